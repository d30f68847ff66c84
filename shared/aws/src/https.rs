//! The HTTPS client under every SDK client: reqwest, as genrelay's other calls use it (one HTTP
//! stack and one TLS setup in a binary, HTTP/1.1, which every AWS endpoint genrelay calls
//! speaks). The SDK's own default client would bring a second stack, with HTTP/2 and aws-lc:
//! 1.5 MiB more in every function.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// The client to give an SDK configuration, once per function: its SDK clients then share
/// connections (one pool per set of timeouts).
pub fn https_client() -> SharedHttpClient {
    SharedHttpClient::new(ReqwestClients::default())
}

/// The connect and read timeouts a connector was built with.
type Timeouts = (Option<Duration>, Option<Duration>);

/// One reqwest client per set of timeouts the SDK asks for.
#[derive(Debug, Default)]
struct ReqwestClients {
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

impl HttpClient for ReqwestClients {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let timeouts = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let connector = connectors.entry(timeouts).or_insert_with(|| {
            // The SDK reads redirects itself (S3 answers 301 for another region's bucket).
            let mut client = genrelay_egress::http_client_builder().redirect(reqwest::redirect::Policy::none());
            if let Some(timeout) = timeouts.0 {
                client = client.connect_timeout(timeout);
            }
            if let Some(timeout) = timeouts.1 {
                client = client.read_timeout(timeout);
            }
            SharedHttpConnector::new(ReqwestConnector(client.build().expect("the HTTP client builds")))
        });
        connector.clone()
    }
}

#[derive(Debug)]
struct ReqwestConnector(reqwest::Client);

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let request = request.try_into_http1x().map_err(|e| ConnectorError::other(e.into(), None))?;
            let request = reqwest::Request::try_from(request.map(reqwest::Body::wrap))
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let response = client.execute(request).await.map_err(connector_error)?;
            let response = http::Response::from(response).map(SdkBody::from_body_1_x);
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// What the SDK's retries need to know of a failed request: a timeout, or an I/O failure
/// (no connection, a reset), both retried; anything else is not.
fn connector_error(error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}
