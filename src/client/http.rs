//! The HTTP side of the client: one `reqwest` client, the bearer token, and the API's error shape
//! (`{ "error": code, "message": text }`) turned into [`Error::Api`].

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;

use super::{ClientArgs, Error, Result};

/// How long to wait for a connection before calling the server unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an answer may stall between two reads.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A berth API at one URL, with an optional token.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Api {
    /// A client for `args.url` (http only: this build carries no TLS).
    pub fn new(args: &ClientArgs) -> Result<Api> {
        let base = args.url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            return Err(Error::Usage(format!(
                "--url must start with http:// (got {base:?}); put a TLS-terminating proxy's plain side or an SSH tunnel in front for https"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("berth-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Usage(format!("cannot build the HTTP client: {e}")))?;
        let token = args.token.clone().filter(|t| !t.is_empty());
        Ok(Api { base, token, http })
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET `path` with `query`, as JSON.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let res = self.send(self.http.get(self.url(path)).query(query), path).await?;
        json(res, &self.url(path)).await
    }

    /// POST `path` with no body, as JSON.
    pub async fn post(&self, path: &str) -> Result<Value> {
        let res = self.send(self.http.post(self.url(path)), path).await?;
        json(res, &self.url(path)).await
    }

    /// GET `path` as bytes.
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let res = self.send(self.http.get(self.url(path)), path).await?;
        let bytes = res.bytes().await.map_err(|e| self.unreachable(path, &e))?;
        Ok(bytes.to_vec())
    }

    /// POST a multipart form to `path` with extra `headers`, as JSON.
    pub async fn post_form(
        &self,
        path: &str,
        form: reqwest::multipart::Form,
        headers: &[(&str, String)],
    ) -> Result<Value> {
        let req = headers.iter().fold(self.http.post(self.url(path)).multipart(form), |r, (k, v)| r.header(*k, v));
        let res = self.send(req, path).await?;
        json(res, &self.url(path)).await
    }

    /// Sends `req` with the token; an error status becomes [`Error::Api`].
    async fn send(&self, req: RequestBuilder, path: &str) -> Result<Response> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let res = req.send().await.map_err(|e| self.unreachable(path, &e))?;
        if res.status().is_success() {
            return Ok(res);
        }
        Err(api_error(res).await)
    }

    fn unreachable(&self, path: &str, e: &reqwest::Error) -> Error {
        Error::Unreachable { url: self.url(path), reason: root_cause(e) }
    }
}

/// The innermost cause of `e`, which says what happened ("Connection refused (os error 111)").
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    if e.is_timeout() { format!("timed out ({cause})") } else { cause.to_string() }
}

async fn json(res: Response, url: &str) -> Result<Value> {
    let text = res.text().await.map_err(|e| Error::Unreachable { url: url.to_string(), reason: root_cause(&e) })?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Unexpected { url: url.to_string(), reason: format!("not JSON ({e}): {}", clip(&text)) })
}

/// The API's error body as [`Error::Api`]; a body of another shape (a proxy's page) is quoted.
async fn api_error(res: Response) -> Error {
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    let body: Option<Value> = serde_json::from_str(&text).ok();
    let field = |name: &str| body.as_ref().and_then(|b| b.get(name)).and_then(Value::as_str).map(str::to_string);
    let code = field("error").unwrap_or_else(|| reason(status));
    let message = field("message")
        .unwrap_or_else(|| if text.trim().is_empty() { format!("the server answered {status}") } else { clip(&text) });
    Error::Api { status: status.as_u16(), code, message }
}

fn reason(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("error").to_lowercase().replace(' ', "_")
}

/// At most 200 characters of `text`, on one line.
fn clip(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}
