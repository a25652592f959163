//! A small HTTP/1.1 server on hyper for the admin API and the sample platform. They answer
//! few requests beside the data plane, so they share one multi-thread runtime instead of
//! running on the gateway's cores.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;

/// How long a request head may take to arrive, and a connection stay idle.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// An application answering requests.
pub trait App: Send + Sync + 'static {
    fn call(&self, request: Request<Incoming>) -> impl Future<Output = Response<Vec<u8>>> + Send;
}

/// Serves `app` on `listener` until `stopping` becomes true; connections in flight are
/// asked to finish.
pub async fn serve<A: App>(listener: std::net::TcpListener, app: Arc<A>, mut stopping: watch::Receiver<bool>) {
    let Ok(listener) = listener.set_nonblocking(true).and_then(|()| tokio::net::TcpListener::from_std(listener)) else {
        eprintln!("portcullis: a listener could not be set up on this runtime");
        return;
    };
    loop {
        let accepted = tokio::select! {
            biased;
            () = crate::serve::stopped(&mut stopping) => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let app = app.clone();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, std::convert::Infallible>(app.call(request).await.map(|b| Full::new(Bytes::from(b)))) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = crate::serve::stopped(&mut stopping) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
}

/// Resolves once `stopping` is true (or its sender is gone).
pub async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await.map(|_| ());
}
