//! Every date form the parser claims, one assertion each, plus the never-in-the-future property.

use super::*;
use proptest::prelude::*;

const VN: Tz = chrono_tz::Asia::Ho_Chi_Minh;

/// The fetch time of every test: Monday 30 January 2023, 16:45:30 in Hà Nội.
fn now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2023-01-30T16:45:30+07:00").unwrap()
}

fn context() -> DateContext<'static> {
    DateContext::new(VN, now())
}

fn read(text: &str) -> ParsedDate {
    parse_date(text, &context()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// The instant as RFC 3339, for a form that gives a time.
fn parse(text: &str) -> String {
    let parsed = read(text);
    assert!(parsed.has_time, "{text:?} read as date-only");
    parsed.at.to_rfc3339()
}

/// The local midnight as RFC 3339, for a date-only form.
fn date_only(text: &str) -> String {
    let parsed = read(text);
    assert!(!parsed.has_time, "{text:?} read with a time");
    parsed.at.to_rfc3339()
}

#[test]
fn reads_every_form_the_fixture_world_shows() {
    assert_eq!(
        parse("Ngày đăng 30/01/2023 | 11:00\u{a0}| Lượt xem: 181"),
        "2023-01-30T11:00:00+07:00"
    );
    assert_eq!(parse("19/02/2021 13:40"), "2021-02-19T13:40:00+07:00");
    assert_eq!(
        parse("Thứ sáu, 19/02/2021 - 13:40"),
        "2021-02-19T13:40:00+07:00"
    );
}

#[test]
fn reads_rfc_822_and_rfc_3339_with_their_own_offsets() {
    assert_eq!(
        parse("Wed, 04 Jan 2023 10:09:00 +0700"),
        "2023-01-04T10:09:00+07:00"
    );
    assert_eq!(parse("2023-01-04T03:09:00Z"), "2023-01-04T10:09:00+07:00");
    assert_eq!(
        parse("Wed, 04 Jan 2023 03:09:00 GMT"),
        "2023-01-04T10:09:00+07:00"
    );
    // Forms chrono's strict parsers refuse: no weekday, a named US zone, a two-digit year,
    // no seconds, a lower-case month.
    assert_eq!(parse("04 Jan 2023 03:09 GMT"), "2023-01-04T10:09:00+07:00");
    assert_eq!(
        parse("Thu, 01 Jan 04 19:48:21 EST"),
        "2004-01-02T07:48:21+07:00"
    );
    assert_eq!(
        parse("4 jan 2023 10:09:00 PDT"),
        "2023-01-05T00:09:00+07:00"
    );
    assert_eq!(
        parse("2023-01-04T03:09:00.123-08:00"),
        "2023-01-04T18:09:00.123+07:00"
    );
    assert_eq!(parse("20230104T030900Z"), "2023-01-04T10:09:00+07:00");
    assert_eq!(parse("2023-01-04T03:09Z"), "2023-01-04T10:09:00+07:00");
}

#[test]
fn forms_without_an_offset_are_read_in_the_source_zone() {
    // What Vietnamese CMSs put in <pubDate> and <dc:date>.
    assert_eq!(parse("2023-01-30 11:00:00"), "2023-01-30T11:00:00+07:00");
    assert_eq!(parse("2023-01-30T11:00:00"), "2023-01-30T11:00:00+07:00");
    assert_eq!(parse("2023-01-30 11:00"), "2023-01-30T11:00:00+07:00");
    assert_eq!(parse("30/01/2023 11:00"), "2023-01-30T11:00:00+07:00");
    assert_eq!(parse("30-01-2023 11:00:05"), "2023-01-30T11:00:05+07:00");
    assert_eq!(parse("30.01.2023 11h00"), "2023-01-30T11:00:00+07:00");
    // The same text in another source's zone is another instant.
    let utc = DateContext::new(chrono_tz::UTC, now());
    assert_eq!(
        parse_date("2023-01-30 11:00:00", &utc)
            .unwrap()
            .at
            .to_rfc3339(),
        "2023-01-30T11:00:00+00:00"
    );
}

#[test]
fn am_pm_and_the_vi_vn_sa_ch_markers_are_applied() {
    assert_eq!(
        parse("Thứ Hai, 30/01/2023 - 03:15 PM"),
        "2023-01-30T15:15:00+07:00"
    );
    assert_eq!(parse("30/01/2023 3:15:00 CH"), "2023-01-30T15:15:00+07:00");
    assert_eq!(parse("30/01/2023 9:05:00 SA"), "2023-01-30T09:05:00+07:00");
    // 12 AM / 12 SA is midnight; 12 PM / 12 CH is noon.
    assert_eq!(parse("30/01/2023 12:10 AM"), "2023-01-30T00:10:00+07:00");
    assert_eq!(parse("30/01/2023 12:10:00 SA"), "2023-01-30T00:10:00+07:00");
    assert_eq!(parse("30/01/2023 12:10 PM"), "2023-01-30T12:10:00+07:00");
    assert_eq!(parse("30/01/2023 12:10:00 CH"), "2023-01-30T12:10:00+07:00");
    assert_eq!(parse("30/01/2023 3:15 p.m."), "2023-01-30T15:15:00+07:00");
    assert_eq!(
        parse("8 giờ 30 phút tối 30/01/2023"),
        "2023-01-30T20:30:00+07:00"
    );
    assert_eq!(parse("30/01/2023 9h sáng"), "2023-01-30T09:00:00+07:00");
    assert_eq!(parse("30/01/2023 3 giờ chiều"), "2023-01-30T15:00:00+07:00");
}

#[test]
fn the_time_may_come_before_the_date() {
    assert_eq!(
        parse("Cập nhật lúc 15:30 ngày 30/01/2023"),
        "2023-01-30T15:30:00+07:00"
    );
    assert_eq!(parse("15:30 30/01/2023"), "2023-01-30T15:30:00+07:00");
    assert_eq!(parse("15h30, 30/01/2023"), "2023-01-30T15:30:00+07:00");
    assert_eq!(
        parse("03:15 PM Thứ Hai, 30/01/2023"),
        "2023-01-30T15:15:00+07:00"
    );
}

#[test]
fn a_zone_in_the_text_outranks_the_source_zone() {
    assert_eq!(
        parse("30/01/2023 08:00 (GMT+7)"),
        "2023-01-30T08:00:00+07:00"
    );
    assert_eq!(parse("30/01/2023 08:00 GMT+7"), "2023-01-30T08:00:00+07:00");
    assert_eq!(
        parse("30/01/2023 01:00 GMT+00:00"),
        "2023-01-30T08:00:00+07:00"
    );
    assert_eq!(parse("30/01/2023 08:00 ICT"), "2023-01-30T08:00:00+07:00");
    assert_eq!(parse("30/01/2023 08:00 UTC+9"), "2023-01-30T06:00:00+07:00");
    assert_eq!(parse("30/01/2023 08:00 +0900"), "2023-01-30T06:00:00+07:00");
    // The 07:00 of a zone is not a time of day.
    assert_eq!(
        date_only("30/01/2023 (GMT+07:00)"),
        "2023-01-30T00:00:00+07:00"
    );
    let utc = DateContext::new(chrono_tz::UTC, now());
    assert_eq!(
        parse_date("30/01/2023 08:00 (GMT+7)", &utc)
            .unwrap()
            .at
            .to_rfc3339(),
        "2023-01-30T01:00:00+00:00"
    );
}

#[test]
fn weekday_names_and_abbreviations_are_read_past() {
    for text in [
        "T2, 30/01/2023 10:00",
        "Thứ Hai, 30/01/2023 10:00",
        "Thứ 2 - 30/01/2023 - 10:00",
        "thứ hai 30-01-2023 10:00",
        "Mon, 30 Jan 2023 10:00:00 +0700",
        "Monday, January 30, 2023 10:00 AM",
    ] {
        assert_eq!(parse(text), "2023-01-30T10:00:00+07:00", "{text:?}");
    }
    assert_eq!(
        parse("Chủ nhật, 29/01/2023 10:00"),
        "2023-01-29T10:00:00+07:00"
    );
    assert_eq!(parse("CN, 29/01/2023 10:00"), "2023-01-29T10:00:00+07:00");
    // Thứ Năm ("Thursday") holds the word for May, and is still a weekday.
    assert_eq!(
        parse("Thứ Năm, 26/01/2023 10:00"),
        "2023-01-26T10:00:00+07:00"
    );
}

#[test]
fn vietnamese_month_names() {
    let months = [
        "Một",
        "Hai",
        "Ba",
        "Tư",
        "Năm",
        "Sáu",
        "Bảy",
        "Tám",
        "Chín",
        "Mười",
        "Mười Một",
        "Mười Hai",
    ];
    for (i, name) in months.iter().enumerate() {
        let month = i + 1;
        let expected = format!("2022-{month:02}-19T00:00:00+07:00");
        // WordPress's Vietnamese locale, "j F, Y" and "F j, Y".
        assert_eq!(date_only(&format!("19 Tháng {name}, 2022")), expected);
        assert_eq!(date_only(&format!("Tháng {name} 19, 2022")), expected);
        assert_eq!(date_only(&format!("19 tháng {month}, 2022")), expected);
        assert_eq!(date_only(&format!("19 Th{month} 2022")), expected);
        assert_eq!(
            date_only(&format!("ngày 19 tháng {month} năm 2022")),
            expected
        );
    }
    assert_eq!(
        date_only("19 tháng Giêng, 2022"),
        "2022-01-19T00:00:00+07:00"
    );
    assert_eq!(
        date_only("19 tháng Chạp, 2022"),
        "2022-12-19T00:00:00+07:00"
    );
    assert_eq!(date_only("19 Tháng Bốn, 2022"), "2022-04-19T00:00:00+07:00");
    assert_eq!(
        parse("Ngày 30 tháng 1 năm 2023, 15:30"),
        "2023-01-30T15:30:00+07:00"
    );
    assert_eq!(
        parse("19 Tháng Chín, 2022 lúc 8:05 CH"),
        "2022-09-19T20:05:00+07:00"
    );
    // Composed or decomposed, upper or lower case: the same month.
    let decomposed: String = "19 THÁNG CHÍN, 2022".nfd().collect();
    assert_eq!(date_only(&decomposed), "2022-09-19T00:00:00+07:00");
}

#[test]
fn english_month_names() {
    assert_eq!(date_only("January 30, 2023"), "2023-01-30T00:00:00+07:00");
    assert_eq!(date_only("30 Jan 2023"), "2023-01-30T00:00:00+07:00");
    assert_eq!(date_only("30-Jan-2023"), "2023-01-30T00:00:00+07:00");
    assert_eq!(
        parse("Sept. 3rd, 2022 9:00 pm"),
        "2022-09-03T21:00:00+07:00"
    );
}

#[test]
fn a_date_without_time_is_local_midnight_and_says_so() {
    assert_eq!(date_only("Ngày 05/07/2022"), "2022-07-05T00:00:00+07:00");
    assert_eq!(date_only("2022-07-05"), "2022-07-05T00:00:00+07:00");
    assert_eq!(date_only("05/07/2022"), "2022-07-05T00:00:00+07:00");
    // Month first only where day first is impossible.
    assert_eq!(date_only("12/31/2022"), "2022-12-31T00:00:00+07:00");
    assert_eq!(date_only("05/07/2022"), "2022-07-05T00:00:00+07:00");
}

#[test]
fn a_date_only_reading_takes_the_time_of_one_on_the_same_day() {
    let listing = read("30/01/2023");
    let article = read("Cập nhật lúc 15:30 ngày 30/01/2023");
    assert_eq!(listing.refined_by(article), article);
    // A reading with a time keeps it; another day's time is not this date's.
    assert_eq!(article.refined_by(listing), article);
    let other_day = read("31/01/2023 09:00");
    assert_eq!(listing.refined_by(other_day), listing);
}

#[test]
fn relative_forms_count_back_from_the_fetch_time() {
    // now: 2023-01-30 16:45:30 +07:00
    assert_eq!(parse("Vừa xong"), "2023-01-30T16:45:00+07:00");
    assert_eq!(parse("vừa mới"), "2023-01-30T16:45:00+07:00");
    assert_eq!(parse("30 giây trước"), "2023-01-30T16:45:00+07:00");
    assert_eq!(parse("45 phút trước"), "2023-01-30T16:00:00+07:00");
    assert_eq!(parse("2 giờ trước"), "2023-01-30T14:00:00+07:00");
    assert_eq!(parse("3 tiếng trước"), "2023-01-30T13:00:00+07:00");
    assert_eq!(parse("Đăng 5 phút trước"), "2023-01-30T16:40:00+07:00");
    assert_eq!(date_only("2 ngày trước"), "2023-01-28T00:00:00+07:00");
    assert_eq!(date_only("1 tuần trước"), "2023-01-23T00:00:00+07:00");
    assert_eq!(date_only("2 tháng trước"), "2022-11-30T00:00:00+07:00");
    assert_eq!(date_only("1 năm trước"), "2022-01-30T00:00:00+07:00");
    assert_eq!(date_only("Hôm qua"), "2023-01-29T00:00:00+07:00");
    assert_eq!(date_only("hôm kia"), "2023-01-28T00:00:00+07:00");
    assert_eq!(date_only("Hôm nay"), "2023-01-30T00:00:00+07:00");
    assert_eq!(parse("Hôm nay 10:20"), "2023-01-30T10:20:00+07:00");
    assert_eq!(parse("Hôm qua, 3:15 CH"), "2023-01-29T15:15:00+07:00");
    assert_eq!(parse("15:30 hôm qua"), "2023-01-29T15:30:00+07:00");
    assert_eq!(parse("2 hours ago"), "2023-01-30T14:00:00+07:00");
    assert_eq!(date_only("yesterday"), "2023-01-29T00:00:00+07:00");
    // The same item read an hour later lands on the same instant.
    let later = DateContext::new(VN, now() + Duration::hours(1));
    assert_eq!(
        parse_date("3 giờ trước", &later).unwrap().at.to_rfc3339(),
        parse("2 giờ trước")
    );
    // Without a fetch time, a relative form is not understood.
    assert!(parse_datetime("2 giờ trước", VN, &[]).is_err());
}

#[test]
fn a_date_more_than_a_day_ahead_is_not_trusted() {
    match parse_date("30/01/2099 10:00", &context()) {
        Err(DateError::Future { at, .. }) => {
            assert_eq!(at.to_rfc3339(), "2099-01-30T10:00:00+07:00")
        }
        other => panic!("{other:?}"),
    }
    // Hours ahead (a portal's clock, a wrong zone) are believed.
    assert_eq!(parse("31/01/2023 10:00"), "2023-01-31T10:00:00+07:00");
    assert!(matches!(
        parse_date("01/02/2023 10:00", &context()),
        Err(DateError::Future { .. })
    ));
}

#[test]
fn configured_formats_come_first() {
    let formats = vec!["%H:%M ngày %d/%m/%Y".to_owned(), "%m/%d/%Y".to_owned()];
    let context = context().with_formats(&formats);
    let parsed = parse_date("13:40 ngày 19/02/2021", &context).unwrap();
    assert_eq!(parsed.at.to_rfc3339(), "2021-02-19T13:40:00+07:00");
    // A source whose portal writes month first says so, and is read so.
    let parsed = parse_date("01/02/2023", &context).unwrap();
    assert_eq!(parsed.at.to_rfc3339(), "2023-01-02T00:00:00+07:00");
    assert!(!parsed.has_time);
}

#[test]
fn what_is_not_understood_is_an_error_never_a_wrong_time() {
    for text in [
        "",
        "hôm nào đó",
        "31/02/2021 10:00",
        "99/99/9999 99:99",
        "30/01/2023 25:61",
        "Tin 24h",
        "tháng 13 năm 2023",
    ] {
        assert!(parse_date(text, &context()).is_err(), "{text:?}");
    }
    // Words that only look like times leave the date alone.
    assert_eq!(
        date_only("30/01/2023 số 2 hà nội"),
        "2023-01-30T00:00:00+07:00"
    );
}

#[test]
fn format_validation_catches_typos() {
    assert!(validate_format("%d/%m/%Y %H:%M").is_ok());
    assert!(validate_format("%d/%m/%Y %Q").is_err());
}

proptest! {
    /// Whatever a page or feed prints, and however it is configured, a date that parses is
    /// never more than a day after the fetch time.
    #[test]
    fn a_parsed_date_is_never_more_than_a_day_ahead(
        day in 1u32..=31, month in 1u32..=12, year in 1990i32..=2200,
        hour in 0u32..=23, minute in 0u32..=59,
        form in 0usize..8,
        noise in "[a-zA-Z0-9 :/,.+-]{0,12}",
        fetched_at in 0i64..4_000_000_000,
    ) {
        let now = DateTime::from_timestamp(fetched_at, 0).unwrap().fixed_offset();
        let texts = [
            format!("{day:02}/{month:02}/{year} {hour:02}:{minute:02}"),
            format!("{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:00Z"),
            format!("{year}-{month:02}-{day:02} {hour:02}:{minute:02}"),
            format!("ngày {day} tháng {month} năm {year}"),
            format!("{hour}:{minute:02} CH {day}/{month}/{year}"),
            format!("{day} Jan {year} {hour}:{minute:02} GMT+7"),
            format!("{hour} giờ trước"),
            format!("{noise} {day}/{month}/{year} {noise}"),
        ];
        let formats = vec!["%Y%m%d".to_owned()];
        let context = DateContext::new(VN, now).with_formats(&formats);
        if let Ok(parsed) = parse_date(&texts[form], &context) {
            prop_assert!(parsed.at <= now + FUTURE_TOLERANCE, "{} read as {}", texts[form], parsed.at);
        }
    }

    /// Any text at all: an error or a date in bounds, never a panic.
    #[test]
    fn any_text_parses_to_a_date_in_bounds_or_an_error(text in "\\PC{0,60}", fetched_at in 0i64..4_000_000_000) {
        let now = DateTime::from_timestamp(fetched_at, 0).unwrap().fixed_offset();
        if let Ok(parsed) = parse_date(&text, &DateContext::new(VN, now)) {
            prop_assert!(parsed.at <= now + FUTURE_TOLERANCE);
        }
    }
}
