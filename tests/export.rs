//! `wardfeed export DIR`: the fixture world's ledger written as static files, served by a plain
//! nginx at a public URL with a path (`/wardfeed/`): every feed passes the judges, every
//! address the dashboard links is served, the documents link to each other under that URL,
//! and each file's `.gz` and `.br` decompress to its very bytes.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use tokio::process::Command;

const NGINX: &str = "/usr/sbin/nginx";

fn wardfeed() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wardfeed"));
    command.env("RUST_LOG", "error");
    command
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// nginx, in the foreground as one process, serving `tree` at `/wardfeed/` on `port`.
fn nginx(work: &Path, tree: &Path, port: u16) -> tokio::process::Child {
    let tree = tree.display();
    let work_dir = work.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {work_dir}/nginx.pid;\n\
         error_log {work_dir}/error.log;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {work_dir}/body;\n\
         proxy_temp_path {work_dir}/proxy;\n  fastcgi_temp_path {work_dir}/fastcgi;\n\
         uwsgi_temp_path {work_dir}/uwsgi;\n  scgi_temp_path {work_dir}/scgi;\n\
         types {{ text/html html; application/rss+xml rss; application/atom+xml atom; \
         application/feed+json json; text/x-opml opml; application/xslt+xml xsl; }}\n\
         default_type application/octet-stream;\n\
         server {{\n    listen 127.0.0.1:{port};\n\
         location /wardfeed/ {{ alias {tree}/; index index.html; gzip_static on; }}\n\
         location = /wardfeed/opml {{ alias {tree}/opml; default_type text/x-opml; }}\n  }}\n}}\n"
    );
    let path = work.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    Command::new(NGINX)
        .arg("-p")
        .arg(work)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exported_tree_served_by_nginx_passes_the_judges() {
    assert!(
        Path::new(NGINX).exists(),
        "{NGINX} is needed: scripts/test.sh installs it"
    );
    let portal = serve("s2").await;
    let dir = tempfile::tempdir().unwrap();
    let config_file =
        quick_config_file_with(dir.path(), &[("${FIXTURES_BASE}", &portal.base_url())]);
    let store = dir.path().join("store");
    let scraped = wardfeed()
        .args(["scrape", "--once", "--config"])
        .arg(&config_file)
        .arg("--store")
        .arg(&store)
        .output()
        .await
        .unwrap();
    assert!(
        scraped.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&scraped.stderr)
    );
    // A port for nginx (free a moment ago: loopback, nothing else binds it meanwhile).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let public = format!("http://127.0.0.1:{port}/wardfeed");
    let tree = dir.path().join("www");
    let started = std::time::Instant::now();
    let exported = wardfeed()
        .args(["export", "--config"])
        .arg(&config_file)
        .arg("--store")
        .arg(&store)
        .arg("--public-url")
        .arg(format!("{public}/"))
        .arg(&tree)
        .output()
        .await
        .unwrap();
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );

    eprintln!("export took {:?}", started.elapsed());
    // Every file has its .gz and .br, each decompressing to its bytes.
    let all = files(&tree);
    let plain: Vec<&PathBuf> = all
        .iter()
        .filter(|p| {
            !matches!(p.extension().and_then(|e| e.to_str()), Some("gz" | "br"))
                && !p.ends_with(".wardfeed-export")
        })
        .collect();
    assert!(plain.len() > 50, "{plain:?}");
    for file in &plain {
        let bytes = std::fs::read(file).unwrap();
        let mut gz = Vec::new();
        flate2::read::GzDecoder::new(&std::fs::read(format!("{}.gz", file.display())).unwrap()[..])
            .read_to_end(&mut gz)
            .unwrap();
        assert!(gz == bytes, "{}.gz", file.display());
        let mut br = Vec::new();
        brotli::Decompressor::new(
            &std::fs::read(format!("{}.br", file.display())).unwrap()[..],
            4096,
        )
        .read_to_end(&mut br)
        .unwrap();
        assert!(br == bytes, "{}.br", file.display());
    }
    for fixed in ["index.html", "opml", "residents.opml", "feed.xsl"] {
        assert!(tree.join(fixed).is_file(), "{fixed} not exported");
    }

    let work = dir.path().join("nginx");
    std::fs::create_dir_all(&work).unwrap();
    let _nginx = nginx(&work, &tree, port);
    let client = http_client();
    let mut up = false;
    for _ in 0..200 {
        if let Ok(response) = client.get(format!("{public}/")).send().await
            && response.status() == 200
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "nginx did not serve {public}/ within 10 s");

    // The documents name their addresses under the public URL.
    let atom = get_text(&client, &format!("{public}/feeds/all.atom")).await;
    assert!(
        atom.contains(&format!("href=\"{public}/feeds/all.atom\"")),
        "{atom:.600}"
    );
    assert!(atom.contains("href=\"/wardfeed/feed.xsl\""), "{atom:.600}");
    // nginx serves the .gz beside a file to a client that takes gzip.
    let gzipped = client
        .get(format!("{public}/feeds/all.rss"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");

    // Everything the dashboard, the OPMLs and the combined feeds link under the public URL
    // (archive pages too) is served.
    let links =
        regex::Regex::new(&format!(r#"{}(/[^"'<>\s?#]*)"#, regex::escape(&public))).unwrap();
    let mut linked = std::collections::BTreeSet::new();
    for page in [
        "/",
        "/opml",
        "/residents.opml",
        "/feeds/all.atom",
        "/feeds/all.json",
    ] {
        let text = get_text(&client, &format!("{public}{page}")).await;
        linked.extend(links.captures_iter(&text).map(|c| c[1].to_owned()));
    }
    assert!(linked.len() > 20, "{linked:?}");
    let archives = all
        .iter()
        .filter(|p| p.to_string_lossy().contains("/archive/"))
        .count();
    eprintln!(
        "{} files exported ({archives} with their .gz/.br under archive/); {} addresses linked",
        all.len(),
        linked.len()
    );
    for path in &linked {
        let response = client.get(format!("{public}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{public}{path}");
    }

    // Every feed the server serves, in all three formats, passes the judges from nginx.
    if !judges_wanted() {
        return;
    }
    let config = fixture_config(&portal);
    let (empty, full): (Vec<_>, Vec<_>) = feed_paths(&config)
        .into_iter()
        .partition(|(_, empty)| *empty);
    for (group, min_entries) in [(full, 1), (empty, 0)] {
        let urls: Vec<String> = group
            .iter()
            .map(|(path, _)| format!("{public}{path}"))
            .collect();
        for path in &group {
            assert!(
                tree.join(path.0.trim_start_matches('/')).is_file(),
                "{} not exported",
                path.0
            );
        }
        judge_feeds(&urls, min_entries).await;
    }
}
