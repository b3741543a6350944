//! A small Server-Sent Events client for the tests: reads a `text/event-stream`
//! response frame by frame, as a browser's EventSource would, with every
//! read bounded in time.

use std::time::Duration;

use serde_json::Value;

/// One dispatched SSE message.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }

    pub fn seq(&self) -> i64 {
        self.id
            .as_deref()
            .and_then(|id| id.parse().ok())
            .unwrap_or(-1)
    }
}

pub struct Sse {
    response: reqwest::Response,
    buffer: String,
    /// The last `id` seen, as EventSource's `lastEventId` (an `id` without
    /// data moves it too).
    pub last_id: Option<String>,
    /// Frames with no data (keep-alives) seen so far.
    pub keepalives: usize,
}

impl Sse {
    /// Opens `path` with `token`; `last_event_id` goes in the header.
    pub async fn open(
        http: &reqwest::Client,
        url: &str,
        token: &str,
        last_event_id: Option<&str>,
    ) -> Result<Sse, (reqwest::StatusCode, String)> {
        let mut request = http.get(url).bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .expect("the stream answered within 10 s")
            .expect("request");
        let status = response.status();
        if !status.is_success() {
            return Err((status, response.text().await.unwrap_or_default()));
        }
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        Ok(Sse {
            response,
            buffer: String::new(),
            last_id: None,
            keepalives: 0,
        })
    }

    /// The next message with data, or `None` if the stream ended. Panics if
    /// none comes within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<SseEvent> {
        tokio::time::timeout(within, self.next())
            .await
            .unwrap_or_else(|_| panic!("no SSE message within {within:?}"))
    }

    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    id: None,
                    event: "message".into(),
                    data: String::new(),
                };
                let mut has_data = false;
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        event.id = Some(v.to_string());
                        self.last_id = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event.event = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        if has_data {
                            event.data.push('\n');
                        }
                        event.data.push_str(v);
                        has_data = true;
                    }
                }
                if has_data {
                    return Some(event);
                }
                self.keepalives += 1;
                continue;
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Collects messages of `kind` until `n` have come (skipping others).
    pub async fn collect(&mut self, kind: &str, n: usize, within: Duration) -> Vec<SseEvent> {
        let mut out = Vec::new();
        tokio::time::timeout(within, async {
            while out.len() < n {
                match self.next().await {
                    Some(e) if e.event == kind => out.push(e),
                    Some(_) => {}
                    None => break,
                }
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "only {} of {n} {kind} messages within {within:?}",
                out.len()
            )
        });
        out
    }
}
