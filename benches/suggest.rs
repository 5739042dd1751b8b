//! CPU time of one `wardfeed suggest` on a fixture listing: the whole command's work (the
//! listing, its three articles and, for the JSON site, the endpoint fetched from an in-process
//! loopback portal, then the analysis), measured with getrusage around each call. The portal
//! answers in the same process and thread, so its serving is counted too: the figure is an
//! upper bound of suggest's own CPU.
//!
//! Run: `cargo bench --bench suggest`. Figures are recorded in BENCHMARKS.md.

use std::path::Path;
use std::time::{Duration, Instant};

use wardfeed::config::FetchSettings;
use wardfeed::fetch::Crawler;
use wardfeed::suggest::{self, Options};
use wardfeed_portal::{PortalServer, Snapshot};

const RUNS: usize = 10;

fn cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let world = PortalServer::start(Snapshot::load_dir(&root.join("portal/s2")).unwrap())
            .await
            .unwrap();
        let kinds = PortalServer::start(Snapshot::load_dir(&root.join("kinds/sites")).unwrap())
            .await
            .unwrap();
        let settings = FetchSettings {
            min_host_interval: Duration::ZERO,
            max_crawl_delay: Duration::ZERO,
            retries: 0,
            ..FetchSettings::default()
        };
        let tz = chrono_tz::Asia::Ho_Chi_Minh;
        let options = Options {
            id: None,
            name: None,
            articles: Vec::new(),
            template: None,
            tz,
            now: wardfeed::normalize::date::in_zone(chrono::Utc::now(), tz),
        };
        let listings = [
            (&world, "longbien", "/tin-tuc/chuyen-muc/tin-tuc-su-kien"),
            (&world, "phucloi", "/tin-tuc/tin-moi-nhat"),
            (&world, "phucdong", "/Default.aspx?tabid=118"),
            (&world, "thachban", "/Default.aspx?tabid=87"),
            (&kinds, "jsonward", "/tin-tuc"),
            (&kinds, "formward", "/TinTuc.aspx"),
        ];
        println!("| listing | CPU per suggest, mean | max | wall, mean |");
        println!("|---|---|---|---|");
        for (server, site, path) in listings {
            let url = url::Url::parse(&format!("{}{path}", server.site_base(site))).unwrap();
            let (mut total_cpu, mut max_cpu, mut total_wall) =
                (Duration::ZERO, Duration::ZERO, Duration::ZERO);
            for run in 0..=RUNS {
                // A fresh crawler each time: robots.txt is fetched again, as by the command.
                let crawler = Crawler::new(&settings).unwrap();
                let (cpu0, wall0) = (cpu(), Instant::now());
                let suggestion = suggest::suggest(&crawler, &url, &options).await.unwrap();
                let _ = std::hint::black_box(suggestion.toml());
                let (spent, wall) = (cpu() - cpu0, wall0.elapsed());
                if run == 0 {
                    continue; // warm-up
                }
                total_cpu += spent;
                max_cpu = max_cpu.max(spent);
                total_wall += wall;
            }
            let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
            println!(
                "| {site} `{path}` | {} | {} | {} |",
                ms(total_cpu / RUNS as u32),
                ms(max_cpu),
                ms(total_wall / RUNS as u32)
            );
        }
    });
}
