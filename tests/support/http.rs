//! Raw HTTPS calls to a test server: any method, headers and body, with the admin token by
//! default, and bounded reads of watch streams.

use futures::StreamExt;
use serde_json::Value;

use super::{Server, PATIENCE};

/// An HTTPS client trusting only the server's CA.
pub fn client(ca_pem: &[u8]) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem).expect("the CA is PEM");
    reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only([ca])
        .timeout(PATIENCE)
        .build()
        .expect("build the HTTPS client")
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON; fails the test otherwise.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Every value of a header.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect()
    }

    /// Fails the test unless this is a `Failure` Status with this code (also the HTTP
    /// status) and reason, served as JSON; returns it.
    pub fn expect_status(&self, code: u16, reason: &str) -> Value {
        let body = self.expect(code);
        assert_eq!(self.header_values("content-type"), ["application/json"]);
        assert_eq!(body["kind"], "Status", "{body}");
        assert_eq!(body["apiVersion"], "v1");
        assert_eq!(body["status"], "Failure");
        assert_eq!(body["code"], code);
        assert_eq!(body["reason"], reason, "{body}");
        body
    }

    /// Fails the test unless the status is `expected`; returns the JSON body.
    pub fn expect(&self, expected: u16) -> Value {
        assert_eq!(
            self.status,
            expected,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }
}

/// One request being built.
pub struct Call<'s> {
    server: &'s Server,
    method: reqwest::Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    token: Option<String>,
}

impl Server {
    /// A request of any method.
    pub fn call(&self, method: &str, path: &str) -> Call<'_> {
        Call {
            server: self,
            method: method.parse().expect("an HTTP method"),
            path: path.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            token: Some(self.token.clone()),
        }
    }

    /// A GET.
    pub fn get(&self, path: &str) -> Call<'_> {
        self.call("GET", path)
    }

    /// A POST of a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Call<'_> {
        self.call("POST", path).json(body)
    }

    /// A PUT of a JSON body.
    pub fn put(&self, path: &str, body: &Value) -> Call<'_> {
        self.call("PUT", path).json(body)
    }

    /// A PATCH with this content type.
    pub fn patch(&self, path: &str, content_type: &str, body: &Value) -> Call<'_> {
        self.call("PATCH", path)
            .header("Content-Type", content_type)
            .body(body.to_string())
    }

    /// A DELETE.
    pub fn delete(&self, path: &str) -> Call<'_> {
        self.call("DELETE", path)
    }

    /// Creates an object and returns it; fails the test unless the answer is 201.
    pub fn create(&self, collection: &str, object: &Value) -> Value {
        self.post(collection, object).send().expect(201)
    }
}

impl Call<'_> {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the `Accept` header.
    pub fn accept(self, value: &str) -> Self {
        self.header("Accept", value)
    }

    /// Sets a raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json(self, body: &Value) -> Self {
        self.header("Content-Type", "application/json")
            .body(body.to_string())
    }

    /// Sends no `Authorization` header.
    pub fn no_token(mut self) -> Self {
        self.token = None;
        self
    }

    /// Sends this bearer token instead of the admin's.
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    fn request(&self) -> reqwest::RequestBuilder {
        let url = format!("{}{}", self.server.url(), self.path);
        let mut request = self
            .server
            .client
            .request(self.method.clone(), url)
            .body(self.body.clone());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    /// Sends the request and reads the whole response.
    pub fn send(self) -> Reply {
        let request = self.request();
        self.server.block_on(async move {
            let response = request.send().await.expect("the request is answered");
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await.expect("read the body").to_vec();
            Reply {
                status,
                headers,
                body,
            }
        })
    }

    /// Sends a watch request and reads its events until `done` says so, the stream ends,
    /// or [`PATIENCE`] runs out. Returns the status and the events read.
    pub fn watch(self, done: impl Fn(&[Value]) -> bool + Send + 'static) -> (u16, Vec<Value>) {
        let request = self.request().timeout(PATIENCE);
        self.server.block_on(async move {
            let response = request.send().await.expect("the watch is answered");
            let status = response.status().as_u16();
            let mut events = Vec::new();
            let mut pending = Vec::new();
            let mut body = response.bytes_stream();
            let deadline = tokio::time::Instant::now() + PATIENCE;
            while !done(&events) {
                let chunk = tokio::time::timeout_at(deadline, body.next()).await;
                let Ok(Some(Ok(chunk))) = chunk else { break };
                pending.extend_from_slice(&chunk);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    events.push(serde_json::from_slice(&line).expect("one JSON event per line"));
                }
            }
            (status, events)
        })
    }
}
