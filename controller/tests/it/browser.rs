//! The console in a real browser: headless Chromium driven over WebDriver (chromedriver from
//! `fixtures/browser/up`, which exports STRATO_TEST_CHROMEDRIVER and STRATO_TEST_CHROMIUM).
//! Log in with the token, see the overview, create a virtual service with a bad FQDN and see
//! the API's error next to that field, then fix it and land on the new service's page: its VIP,
//! the SEs carrying it healthy, its load chart drawn; then delete it from that page (accepting
//! the confirm dialog) and see it gone from the overview and the API.

use crate::common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use std::sync::Arc;
use std::time::Duration;
use strato_controller::agent::LoadModel;
use strato_testkit::HarnessConfig;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the browser backend first (fixtures/browser/up DIR && . DIR/env), or run ./scripts/test")
    })
}

async fn browser(width: u32, height: u32) -> (Client, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": env("STRATO_TEST_CHROMIUM"),
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.path().display()),
                format!("--window-size={width},{height}")],
        }),
    );
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&env("STRATO_TEST_CHROMEDRIVER"))
        .await
        .expect("a chromedriver session");
    (c, profile)
}

/// The text of `css` once it is non-empty (10 s at most).
async fn text_of(c: &Client, css: &str) -> String {
    until(c, css, |t| !t.trim().is_empty()).await
}

/// The text of `css` once `ok` holds of it (10 s at most).
async fn until(c: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
            && ok(&t)
        {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css} stayed empty: {}",
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `css` matches an element (`secs` seconds at most).
async fn wait_for(c: &Client, css: &str, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while c.find(Locator::Css(css)).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {css} within {secs} s: {}",
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn shot(c: &Client, name: &str) {
    if let Ok(dir) = std::env::var("STRATO_TEST_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_see_the_overview_and_create_a_virtual_service_fixing_a_bad_field() {
    let cloud = Arc::new(memory_cloud(&owner()));
    let h = HarnessConfig::new(CLOUD)
        .start_over_http(cloud, memory_store(), Arc::new(LoadModel::new()))
        .await;
    h.setup(group("web", 1, 3), Some(pool())).await;
    let api = h.api.clone().unwrap();
    let (c, _profile) = browser(1280, 900).await;
    let run = async {
        c.goto(&format!("{}/", api.base)).await.unwrap();
        // The login: the token, then the overview.
        let token = c.wait().for_element(Locator::Css("#token")).await.unwrap();
        token.send_keys(api.token.expose()).await.unwrap();
        c.find(Locator::Css("#login-form button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(&c, "#view h1", |t| t == "Overview").await;
        text_of(&c, "#ses-healthy").await;
        let overview = c
            .find(Locator::Css("#view"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            overview.contains("web"),
            "the SE group is listed: {overview}"
        );
        shot(&c, "overview").await;

        // A new service with a bad FQDN: the API's error shows next to that field.
        c.find(Locator::Css("a[href='#/new-vs']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Css("#vs-form"))
            .await
            .unwrap();
        c.find(Locator::Css("#f-name"))
            .await
            .unwrap()
            .send_keys("shop")
            .await
            .unwrap();
        let fqdn = c.find(Locator::Css("#f-fqdn")).await.unwrap();
        fqdn.send_keys("not a name!").await.unwrap();
        c.find(Locator::Css("#vs-form button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let err = text_of(&c, "[data-error-for='fqdn']").await;
        assert!(
            err.to_lowercase().contains("fqdn") || err.contains("name"),
            "{err}"
        );
        assert_eq!(
            c.find(Locator::Css("[data-error-for='_form']"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            "",
            "the error is at the field, not on top"
        );
        assert_eq!(
            fqdn.attr("class").await.unwrap().as_deref(),
            Some("invalid")
        );
        assert!(
            h.ctl.desired().virtual_services.is_empty(),
            "nothing was created"
        );
        shot(&c, "bad-field").await;

        // Fixed: created, and the page of the new service opens.
        fqdn.clear().await.unwrap();
        fqdn.send_keys("shop.example.com").await.unwrap();
        c.find(Locator::Css("#vs-form button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(&c, "#view h1", |t| t == "Virtual service shop").await;
        assert!(
            c.current_url()
                .await
                .unwrap()
                .as_str()
                .ends_with("#/vs/shop")
        );
        let vs = h.ctl.desired().virtual_services;
        assert_eq!(vs.len(), 1);
        assert_eq!(vs[0].fqdn, "shop.example.com");
        // The VIP appears without a reload (the page polls).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let vip = text_of(&c, "#vs-vip").await;
            if vip.starts_with("10.0.200.") {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no VIP shown: {vip}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // The SEs carrying it come up: the simulated agents report them healthy.
        h.load.set("shop", 400.0);
        wait_for(&c, "table.vs-ses span.badge.healthy", 20).await;
        // Its load chart has data: a drawn line, not "no history yet".
        wait_for(&c, "svg.chart polyline", 20).await;
        shot(&c, "vs").await;

        // At a phone's width the page still fits: nothing wider than the window.
        c.set_window_size(390, 844).await.unwrap();
        let overflow = c
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            overflow.as_i64().unwrap_or(1) <= 0,
            "the page is wider than a phone: {overflow}"
        );
        shot(&c, "vs-phone").await;

        // Deleted from the console (after the confirm dialog): gone from the overview and the API.
        c.find(Locator::Css("button.danger"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.accept_alert().await.unwrap();
        until(&c, "#view h1", |t| t == "Overview").await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while c.find(Locator::Css("a[href='#/vs/shop']")).await.is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "shop is still on the overview"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let got = reqwest::Client::new()
            .get(format!("{}/api/v1/virtual-services/shop", api.base))
            .bearer_auth(api.token.expose())
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), reqwest::StatusCode::NOT_FOUND);
        assert!(h.ctl.desired().virtual_services.is_empty());
    };
    on_failure_screenshot(
        &c,
        "log_in_see_the_overview_and_create_a_virtual_service_fixing_a_bad_field",
        run,
    )
    .await;
}

/// Runs a test's `body` (a minute at most) and closes the browser whatever happened. On a
/// failure (a panic or the minute out) it first saves a screenshot of the page to
/// `$STRATO_TEST_ARTIFACTS/TEST.png` (default `target/browser-failures/`), prints its path,
/// then fails as the body did.
async fn on_failure_screenshot(
    c: &Client,
    test: &str,
    body: impl std::future::Future<Output = ()>,
) {
    use futures::FutureExt;
    let res = tokio::time::timeout(
        Duration::from_secs(60),
        std::panic::AssertUnwindSafe(body).catch_unwind(),
    )
    .await;
    if !matches!(res, Ok(Ok(()))) {
        let dir = std::env::var_os("STRATO_TEST_ARTIFACTS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .parent()
                    .unwrap();
                root.join("target/browser-failures")
            });
        let path = dir.join(format!("{test}.png"));
        match c.screenshot().await {
            Ok(png) => {
                match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, png)) {
                    Ok(()) => eprintln!("the browser's page at the failure: {}", path.display()),
                    Err(e) => eprintln!("no screenshot written to {}: {e}", path.display()),
                }
            }
            Err(e) => eprintln!("no screenshot of the failure: {e}"),
        }
    }
    c.clone().close().await.ok();
    match res {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the browser test took more than a minute"),
    }
}

/// The README's screenshots (`docs/screenshots/`): the overview and the demo's service over its
/// replayed day, at a laptop's width, from the controller `controller demo --serve` keeps.
/// Run by hand: `STRATO_README_SCREENSHOTS=docs/screenshots cargo nextest run -p
/// strato-controller --run-ignored only readme_screenshots` (with the browser backend up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes the README's screenshots; run by hand"]
async fn readme_screenshots() {
    let Some(out) = std::env::var_os("STRATO_README_SCREENSHOTS") else {
        panic!("set STRATO_README_SCREENSHOTS to the directory to write the PNGs to");
    };
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join(out);
    let dir = tempfile::tempdir().unwrap();
    let (_, ctl) = strato_controller::demo::demo_kept(strato_controller::demo::DemoOptions {
        out: dir.path().to_path_buf(),
        days: 1,
        quiet: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = strato_controller::api::serve(
        ctl,
        listener,
        strato_controller::api::ApiOptions::with_token("readme"),
    );
    let (c, _profile) = browser(1366, 900).await;
    let run = async {
        c.goto(&format!("{base}/")).await.unwrap();
        let token = c.wait().for_element(Locator::Css("#token")).await.unwrap();
        token.send_keys("readme").await.unwrap();
        c.find(Locator::Css("#login-form button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(&c, "#view h1", |t| t == "Overview").await;
        text_of(&c, "#ses-healthy").await;
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("overview.png"), c.screenshot().await.unwrap()).unwrap();

        c.goto(&format!("{base}/#/vs/shuttle")).await.unwrap();
        until(&c, "#view h1", |t| t.starts_with("Virtual service")).await;
        wait_for(&c, "svg.chart polyline", 10).await;
        // The day, not the last hour.
        let day = c
            .find(Locator::XPath("//button[text()='1 day']"))
            .await
            .unwrap();
        day.click().await.unwrap();
        wait_for(&c, "button.range.on", 10).await;
        until(&c, "button.range.on", |t| t == "1 day").await;
        wait_for(&c, "svg.chart polyline", 10).await;
        std::fs::write(
            out.join("virtual-service.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
    };
    on_failure_screenshot(&c, "readme_screenshots", run).await;
    server.abort();
}
