//! Files the server serves itself, embedded at compile time: the console page at `/`, the seed's
//! page at `/seed.html`, and the browser libraries (sockjs-client, stomp.js 7, stomp.js 2.3.3;
//! refreshed from the npm registry by `scripts/vendor-js`). Nothing is fetched at run time.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "application/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// `(path, content type, body)` of every embedded file.
const FILES: &[(&str, &str, &[u8])] = &[
    ("/", HTML, include_bytes!("../assets/console/index.html")),
    (
        "/console.js",
        JS,
        include_bytes!("../assets/console/console.js"),
    ),
    (
        "/console.css",
        CSS,
        include_bytes!("../assets/console/console.css"),
    ),
    (
        "/seed.html",
        HTML,
        include_bytes!("../assets/console/seed.html"),
    ),
    (
        "/lib/sockjs.min.js",
        JS,
        include_bytes!("../assets/vendor/sockjs.min.js"),
    ),
    (
        "/lib/stomp.umd.min.js",
        JS,
        include_bytes!("../assets/vendor/stomp.umd.min.js"),
    ),
    (
        "/lib/stomp-2.3.3.min.js",
        JS,
        include_bytes!("../assets/vendor/stomp-2.3.3.min.js"),
    ),
];

/// Routes for the embedded files. The console is re-read on every request only in the sense
/// that the binary holds it; `no-cache` makes browsers revalidate after an upgrade.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new();
    for &(path, content_type, body) in FILES {
        router = router.route(
            path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, content_type),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    body,
                )
                    .into_response()
            }),
        );
    }
    router
}
