//! `interlink:adapter/http`: the allow-list check and secret headers, then
//! the [`Outbound`](crate::outbound::Outbound) client.

use std::time::Duration;

use url::Url;

use crate::contract::v0_1_0::interlink::adapter::http::{
    self, Error, Header, Method, Request, Response,
};
use crate::outbound::{OutboundError, OutboundRequest};
use crate::runtime::state::HostState;

impl HostState {
    /// Checks `request` and turns it into what the client sends.
    fn prepare(&self, request: Request) -> Result<OutboundRequest, Error> {
        let url = Url::parse(&request.url)
            .map_err(|e| Error::InvalidRequest(format!("`{}`: {e}", request.url)))?;
        if !self.allow.allows(&url) {
            tracing::warn!(adapter = &*self.adapter_id, connection = %self.ctx.connection_id, %url, "outbound request denied");
            return Err(Error::Denied(format!(
                "{} is not among the adapter's outbound hosts for this connection",
                url.origin().ascii_serialization()
            )));
        }
        let mut headers: Vec<(String, String)> = request
            .headers
            .into_iter()
            .map(|h| (h.name, h.value))
            .collect();
        for secret in request.secret_headers {
            let value = self.ctx.secrets.get(&secret.secret).ok_or_else(|| {
                Error::InvalidRequest(format!("the connection has no secret `{}`", secret.secret))
            })?;
            headers.push((secret.name, format!("{}{value}", secret.prefix)));
        }
        let mut timeout = self.http_timeout.min(self.remaining());
        if let Some(ms) = request.timeout_ms {
            timeout = timeout.min(Duration::from_millis(ms.into()));
        }
        let method = match request.method {
            Method::Get => ::http::Method::GET,
            Method::Head => ::http::Method::HEAD,
            Method::Post => ::http::Method::POST,
            Method::Put => ::http::Method::PUT,
            Method::Patch => ::http::Method::PATCH,
            Method::Delete => ::http::Method::DELETE,
        };
        Ok(OutboundRequest {
            method,
            url,
            headers,
            body: request.body,
            timeout,
        })
    }
}

impl http::Host for HostState {
    async fn send(&mut self, request: Request) -> Result<Response, Error> {
        let request = self.prepare(request)?;
        let response = self
            .services
            .outbound
            .send(request)
            .await
            .map_err(|e| match e {
                OutboundError::InvalidRequest(m) => Error::InvalidRequest(m),
                OutboundError::Timeout => Error::Timeout,
                OutboundError::TooLarge(n) => Error::TooLarge(n),
                OutboundError::Transport(m) => Error::Transport(m),
                OutboundError::Refused(m) => Error::Denied(m),
            })?;
        Ok(Response {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|(name, value)| Header { name, value })
                .collect(),
            body: response.body,
        })
    }
}
