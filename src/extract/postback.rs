//! ASP.NET WebForms pagination: a pager whose links are `javascript:__doPostBack('target',
//! 'argument')` reaches the next page only by posting the page's own form back, with its
//! hidden state (`__VIEWSTATE`, `__EVENTVALIDATION`, …) and the link's event target and
//! argument, as the browser's script would.

use scraper::{ElementRef, Html, Selector};
use std::sync::LazyLock;
use url::Url;

use crate::normalize::resolve_link;

/// The next page of a WebForms listing: the form to post and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postback {
    /// The form's action, resolved (the page itself when it names none).
    pub action: Url,
    /// Every field a browser would submit, in document order, `__EVENTTARGET` and
    /// `__EVENTARGUMENT` set from the link.
    pub fields: Vec<(String, String)>,
}

impl Postback {
    pub fn target(&self) -> &str {
        self.field("__EVENTTARGET")
    }

    pub fn argument(&self) -> &str {
        self.field("__EVENTARGUMENT")
    }

    fn field(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Where a postback link leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostbackNext {
    Post(Postback),
    /// The link (or a form with `method="get"`) is a plain URL after all.
    Get(Url),
}

/// Forms bigger than this are not posted back: no pager needs them, and the request must stay
/// bounded whatever the page holds.
pub const MAX_FORM_FIELDS: usize = 2000;

static FORM: LazyLock<Selector> = LazyLock::new(|| Selector::parse("form").expect("selector"));
static VIEWSTATE_FORM: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("form input[name=__VIEWSTATE]").expect("selector"));
static CONTROLS: LazyLock<Selector> = LazyLock::new(|| {
    Selector::parse("input[name], select[name], textarea[name]").expect("selector")
});
static OPTIONS: LazyLock<Selector> = LazyLock::new(|| Selector::parse("option").expect("selector"));

/// The event target and argument of a `__doPostBack('t', 'a')` call, or of ASP.NET's
/// `WebForm_DoPostBackWithOptions(new WebForm_PostBackOptions("t", "a", …))`, anywhere in
/// `script` (an `href` or an `onclick`).
pub fn postback_call(script: &str) -> Option<(String, String)> {
    let start = ["__doPostBack(", "WebForm_PostBackOptions("]
        .iter()
        .find_map(|call| script.find(call).map(|at| at + call.len()))?;
    let mut rest = &script[start..];
    let target = js_string(&mut rest)?;
    rest = rest.trim_start().strip_prefix(',')?;
    let argument = js_string(&mut rest)?;
    Some((target, argument))
}

/// Reads one quoted JavaScript string literal off the front of `rest`.
fn js_string(rest: &mut &str) -> Option<String> {
    let text = rest.trim_start();
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let mut value = String::new();
    let mut chars = text[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            c if c == quote => {
                *rest = &text[1 + i + 1..];
                return Some(value);
            }
            c => value.push(c),
        }
    }
    None
}

/// What following `link` means on a WebForms page: the post of its form, or a plain URL.
pub fn follow(
    doc: &Html,
    link: ElementRef<'_>,
    base: &Url,
    page_url: &Url,
) -> Result<PostbackNext, String> {
    let element = link.value();
    let href = element.attr("href").map(str::trim).unwrap_or_default();
    let call = postback_call(href).or_else(|| element.attr("onclick").and_then(postback_call));
    let Some((target, argument)) = call else {
        if !href.is_empty() && !href.to_ascii_lowercase().starts_with("javascript:") {
            return resolve_link(base, href)
                .map(PostbackNext::Get)
                .ok_or_else(|| format!("next-page link {href:?} is not a URL"));
        }
        return Err(format!(
            "next-page link {:?} is not a __doPostBack link",
            if href.is_empty() {
                element.attr("onclick").unwrap_or("")
            } else {
                href
            }
        ));
    };
    let form = link
        .ancestors()
        .filter_map(ElementRef::wrap)
        .find(|e| e.value().name() == "form")
        .or_else(|| {
            doc.select(&VIEWSTATE_FORM).next().and_then(|input| {
                input
                    .ancestors()
                    .filter_map(ElementRef::wrap)
                    .find(|e| e.value().name() == "form")
            })
        })
        .or_else(|| doc.select(&FORM).next())
        .ok_or_else(|| "next-page link posts back, but the page has no form".to_owned())?;
    let action = match form.value().attr("action").map(str::trim) {
        None | Some("") => page_url.clone(),
        Some(action) => resolve_link(base, action)
            .ok_or_else(|| format!("the form's action {action:?} is not a URL"))?,
    };
    let mut fields = form_fields(form)?;
    for (name, value) in [("__EVENTTARGET", target), ("__EVENTARGUMENT", argument)] {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value,
            None => fields.push((name.to_owned(), value)),
        }
    }
    let method = form.value().attr("method").unwrap_or("get");
    if method.trim().eq_ignore_ascii_case("get") && form.value().attr("method").is_some() {
        let mut url = action;
        url.query_pairs_mut().clear().extend_pairs(&fields);
        return Ok(PostbackNext::Get(url));
    }
    Ok(PostbackNext::Post(Postback { action, fields }))
}

/// The fields a browser submits for a postback (HTML's form data set, less submit buttons:
/// a script submit sends none): named, enabled controls; checkboxes and radios when checked;
/// a select's selected options (its first when none is).
fn form_fields(form: ElementRef<'_>) -> Result<Vec<(String, String)>, String> {
    let mut fields = Vec::new();
    for control in form.select(&CONTROLS) {
        let element = control.value();
        let Some(name) = element.attr("name").filter(|n| !n.is_empty()) else {
            continue;
        };
        if element.attr("disabled").is_some() {
            continue;
        }
        match element.name() {
            "input" => {
                let kind = element.attr("type").unwrap_or("text").to_ascii_lowercase();
                match kind.as_str() {
                    "submit" | "button" | "image" | "reset" | "file" => {}
                    "checkbox" | "radio" => {
                        if element.attr("checked").is_some() {
                            let value = element.attr("value").unwrap_or("on");
                            fields.push((name.to_owned(), value.to_owned()));
                        }
                    }
                    _ => fields.push((
                        name.to_owned(),
                        element.attr("value").unwrap_or("").to_owned(),
                    )),
                }
            }
            "select" => {
                let options: Vec<ElementRef<'_>> = control.select(&OPTIONS).collect();
                let option_value = |option: &ElementRef<'_>| {
                    option
                        .value()
                        .attr("value")
                        .map(str::to_owned)
                        .unwrap_or_else(|| option.text().collect::<String>().trim().to_owned())
                };
                let selected: Vec<&ElementRef<'_>> = options
                    .iter()
                    .filter(|o| o.value().attr("selected").is_some())
                    .collect();
                if selected.is_empty() {
                    if element.attr("multiple").is_none()
                        && let Some(first) = options.first()
                    {
                        fields.push((name.to_owned(), option_value(first)));
                    }
                } else {
                    for option in selected {
                        fields.push((name.to_owned(), option_value(option)));
                    }
                }
            }
            _ => fields.push((name.to_owned(), control.text().collect())),
        }
        if fields.len() > MAX_FORM_FIELDS {
            return Err(format!(
                "the page's form has more than {MAX_FORM_FIELDS} fields: not posted back"
            ));
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postback_calls_are_read_from_hrefs_and_options() {
        assert_eq!(
            postback_call("javascript:__doPostBack('ctl00$Main$gvNews','Page$2')"),
            Some(("ctl00$Main$gvNews".into(), "Page$2".into()))
        );
        assert_eq!(
            postback_call(
                r#"javascript:WebForm_DoPostBackWithOptions(new WebForm_PostBackOptions("ctl00$Main$lnkNext", "", true, "", "", false, true))"#
            ),
            Some(("ctl00$Main$lnkNext".into(), String::new()))
        );
        assert_eq!(
            postback_call(r"__doPostBack('a\'b', 'c')"),
            Some(("a'b".into(), "c".into()))
        );
        assert_eq!(postback_call("javascript:void(0)"), None);
        assert_eq!(postback_call("__doPostBack('unclosed"), None);
    }

    fn page() -> Html {
        Html::parse_document(
            r#"<html><body><form name="aspnetForm" method="post" action="./TinTuc.aspx?cat=1" id="aspnetForm">
            <input type="hidden" name="__EVENTTARGET" id="__EVENTTARGET" value="" />
            <input type="hidden" name="__EVENTARGUMENT" value="" />
            <input type="hidden" name="__VIEWSTATE" value="dDwtMTA4==" />
            <input type="text" name="ctl00$txtSearch" value="" />
            <input type="submit" name="ctl00$btnSearch" value="Tìm" />
            <input type="checkbox" name="ctl00$chk" />
            <input type="checkbox" name="ctl00$chkOn" checked />
            <input type="text" name="ctl00$off" value="x" disabled />
            <select name="ctl00$ddl"><option value="1">Một</option><option value="2" selected>Hai</option></select>
            <textarea name="ctl00$note">ghi chú</textarea>
            <input type="hidden" name="__EVENTVALIDATION" value="/wEW==" />
            <div class="pager"><span>1</span> <a href="javascript:__doPostBack(&#39;ctl00$gv&#39;,&#39;Page$2&#39;)">Trang sau</a></div>
            </form></body></html>"#,
        )
    }

    #[test]
    fn a_postback_link_posts_the_whole_form_with_its_event() {
        let doc = page();
        let link = doc
            .select(&Selector::parse("div.pager a").unwrap())
            .next()
            .unwrap();
        let url = Url::parse("http://h/ward/TinTuc.aspx?cat=1").unwrap();
        let PostbackNext::Post(postback) = follow(&doc, link, &url, &url).unwrap() else {
            panic!("a post");
        };
        assert_eq!(postback.action.as_str(), "http://h/ward/TinTuc.aspx?cat=1");
        assert_eq!(
            (postback.target(), postback.argument()),
            ("ctl00$gv", "Page$2")
        );
        let names: Vec<&str> = postback.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "__EVENTTARGET",
                "__EVENTARGUMENT",
                "__VIEWSTATE",
                "ctl00$txtSearch",
                "ctl00$chkOn",
                "ctl00$ddl",
                "ctl00$note",
                "__EVENTVALIDATION"
            ]
        );
        assert_eq!(postback.fields[2].1, "dDwtMTA4==");
        assert_eq!(postback.fields[4].1, "on");
        assert_eq!(postback.fields[5].1, "2");
        assert_eq!(postback.fields[6].1, "ghi chú");
    }

    #[test]
    fn plain_links_are_followed_and_other_scripts_refused() {
        let url = Url::parse("http://h/ward/TinTuc.aspx").unwrap();
        let doc = Html::parse_document(
            r#"<form method="post"><a id="a" href="TinTuc.aspx?p=2">2</a><a id="b" href="javascript:void(0)">3</a></form>"#,
        );
        let link = |id: &str| doc.select(&Selector::parse(id).unwrap()).next().unwrap();
        assert_eq!(
            follow(&doc, link("#a"), &url, &url).unwrap(),
            PostbackNext::Get(Url::parse("http://h/ward/TinTuc.aspx?p=2").unwrap())
        );
        let error = follow(&doc, link("#b"), &url, &url).unwrap_err();
        assert!(error.contains("not a __doPostBack link"), "{error}");
        let formless =
            Html::parse_document(r#"<a id="c" href="javascript:__doPostBack('x','')">Sau</a>"#);
        let link = formless
            .select(&Selector::parse("#c").unwrap())
            .next()
            .unwrap();
        let error = follow(&formless, link, &url, &url).unwrap_err();
        assert!(error.contains("no form"), "{error}");
    }
}
