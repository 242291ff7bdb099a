//! The imports of an older contract version adapted to the newest's, as
//! Zed's extension host adapts old guests: each converts its arguments,
//! calls the newest import and converts the answer back. The versions since
//! 0.1.0 share the imports' shapes; only what `http.request.read-only` is
//! differs, so one macro serves them.
//!
//! bindgen's `with:` cannot share the unchanged interfaces instead (tried
//! with `clock`): a mapped module links its functions under its own
//! version's name, `interlink:adapter/clock@0.4.0`, so an old guest's
//! `clock@0.2.0` import would go unserved, and linking both worlds fails
//! with "map entry `now-ms` defined twice".

/// Implements the imports of an older version (its `clock`, `http`, `kv`,
/// `log`, `secrets` and `types` modules in scope) on
/// [`crate::runtime::state::HostState`] through the newest's; `$read_only`
/// tells from an old request whether it only reads.
macro_rules! adapt_imports {
    (read_only: $read_only:expr) => {
        use $crate::contract::latest::interlink::adapter as new;
        use $crate::runtime::state::HostState;

        impl types::Host for HostState {}

        impl clock::Host for HostState {
            async fn now_ms(&mut self) -> u64 {
                new::clock::Host::now_ms(self).await
            }
        }

        impl kv::Host for HostState {
            async fn get(&mut self, key: String) -> Option<Vec<u8>> {
                new::kv::Host::get(self, key).await
            }

            async fn set(
                &mut self,
                key: String,
                value: Vec<u8>,
                ttl_seconds: Option<u32>,
            ) -> Result<(), String> {
                new::kv::Host::set(self, key, value, ttl_seconds).await
            }

            async fn delete(&mut self, key: String) {
                new::kv::Host::delete(self, key).await
            }
        }

        impl log::Host for HostState {
            async fn log(
                &mut self,
                level: log::Level,
                message: String,
                fields: Vec<log::LogField>,
            ) {
                let level = match level {
                    log::Level::Trace => new::log::Level::Trace,
                    log::Level::Debug => new::log::Level::Debug,
                    log::Level::Info => new::log::Level::Info,
                    log::Level::Warn => new::log::Level::Warn,
                    log::Level::Error => new::log::Level::Error,
                };
                let fields = fields
                    .into_iter()
                    .map(|f| new::log::LogField {
                        key: f.key,
                        value: f.value,
                    })
                    .collect();
                new::log::Host::log(self, level, message, fields).await
            }
        }

        impl secrets::Host for HostState {
            async fn sign_jwt(&mut self, request: secrets::JwtRequest) -> Result<String, String> {
                use secrets::JwtAlgorithm as Old;
                let algorithm = match request.algorithm {
                    Old::Rs256 => new::secrets::JwtAlgorithm::Rs256,
                    Old::Ps256 => new::secrets::JwtAlgorithm::Ps256,
                    Old::Ps384 => new::secrets::JwtAlgorithm::Ps384,
                    Old::Ps512 => new::secrets::JwtAlgorithm::Ps512,
                    Old::Es256 => new::secrets::JwtAlgorithm::Es256,
                    Old::Es384 => new::secrets::JwtAlgorithm::Es384,
                };
                let request = new::secrets::JwtRequest {
                    key: request.key,
                    algorithm,
                    key_id: request.key_id,
                    claims: request.claims,
                };
                new::secrets::Host::sign_jwt(self, request).await
            }
        }

        impl http::Host for HostState {
            async fn send(
                &mut self,
                request: http::Request,
            ) -> wasmtime::Result<Result<http::Response, http::Error>> {
                use http::Method as Old;
                let method = match request.method {
                    Old::Get => new::http::Method::Get,
                    Old::Head => new::http::Method::Head,
                    Old::Post => new::http::Method::Post,
                    Old::Put => new::http::Method::Put,
                    Old::Patch => new::http::Method::Patch,
                    Old::Delete => new::http::Method::Delete,
                };
                let read_only = $read_only(&request);
                let request = new::http::Request {
                    method,
                    url: request.url,
                    headers: request
                        .headers
                        .into_iter()
                        .map(|h| new::http::Header {
                            name: h.name,
                            value: h.value,
                        })
                        .collect(),
                    secret_headers: request
                        .secret_headers
                        .into_iter()
                        .map(|s| new::http::SecretHeader {
                            name: s.name,
                            secret: s.secret,
                            prefix: s.prefix,
                        })
                        .collect(),
                    body: request.body,
                    timeout_ms: request.timeout_ms,
                    read_only,
                };
                Ok(match new::http::Host::send(self, request).await? {
                    Ok(response) => Ok(http::Response {
                        status: response.status,
                        headers: response
                            .headers
                            .into_iter()
                            .map(|h| http::Header {
                                name: h.name,
                                value: h.value,
                            })
                            .collect(),
                        body: response.body,
                    }),
                    Err(error) => Err(match error {
                        new::http::Error::Denied(m) => http::Error::Denied(m),
                        new::http::Error::InvalidRequest(m) => http::Error::InvalidRequest(m),
                        new::http::Error::Timeout => http::Error::Timeout,
                        new::http::Error::TooLarge(n) => http::Error::TooLarge(n),
                        new::http::Error::Transport(m) => http::Error::Transport(m),
                    }),
                })
            }
        }
    };
}

pub(super) use adapt_imports;
