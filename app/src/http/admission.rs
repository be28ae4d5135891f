//! Admission control: each route class (sends, newest pages, older pages,
//! password checks, everything else) runs a bounded number of requests at
//! once; a bounded number more may wait, each for a short time; the rest are
//! refused at once with 503 and `Retry-After`. Under overload the API so
//! answers what it can in time and refuses the remainder cheaply, instead of
//! queueing work its clients have long given up on.
//!
//! A request whose client goes away is dropped wherever it is: hyper drops
//! the handler's future when the connection closes, which returns its slot
//! (or leaves the queue) and cancels its calls to the backing services.

use std::{
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::{IntoResponse, Response},
};
use harmony_config::{AdmissionConfig, ClassLimits};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::{App, error::ApiError};

/// The kinds of request that are admitted separately, so a flood of one
/// cannot starve the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    Sends,
    Pages,
    OlderPages,
    Passwords,
    Other,
}

impl RouteClass {
    pub const ALL: [RouteClass; 5] = [
        RouteClass::Sends,
        RouteClass::Pages,
        RouteClass::OlderPages,
        RouteClass::Passwords,
        RouteClass::Other,
    ];

    /// Its `class` label in metrics.
    pub fn name(self) -> &'static str {
        match self {
            RouteClass::Sends => "sends",
            RouteClass::Pages => "pages",
            RouteClass::OlderPages => "older_pages",
            RouteClass::Passwords => "passwords",
            RouteClass::Other => "other",
        }
    }

    /// The class of a request to the route template `route`.
    pub fn of(method: &Method, route: Option<&str>, query: Option<&str>) -> Self {
        match (method, route) {
            (&Method::POST, Some("/api/v1/chats/{chat_id}")) => RouteClass::Sends,
            (&Method::GET, Some("/api/v1/chats/{chat_id}")) if has_cursor(query) => {
                RouteClass::OlderPages
            }
            (&Method::GET, Some("/api/v1/chats/{chat_id}")) => RouteClass::Pages,
            (
                &Method::POST,
                Some(
                    "/api/v1/users/"
                    | "/api/v1/users"
                    | "/api/v1/auth/token"
                    | "/api/v1/auth/session",
                ),
            ) => RouteClass::Passwords,
            _ => RouteClass::Other,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A non-empty `cursor` (an empty one asks for the newest page).
fn has_cursor(query: Option<&str>) -> bool {
    query.is_some_and(|query| {
        form_urlencoded::parse(query.as_bytes())
            .any(|(key, value)| key == "cursor" && !value.is_empty())
    })
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every slot busy and the queue full: refused without waiting.
    QueueFull,
    /// It waited its longest without a slot coming free.
    WaitedTooLong,
}

impl Refused {
    fn name(self) -> &'static str {
        match self {
            Refused::QueueFull => "queue_full",
            Refused::WaitedTooLong => "waited_too_long",
        }
    }
}

/// A bounded number of holders at once, a bounded queue, a bounded wait.
pub struct Limiter {
    slots: Semaphore,
    concurrency: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
    /// What it limits, as metrics label it: (label name, label value).
    label: (&'static str, &'static str),
    /// Made at first use, once the metrics recorder is installed.
    in_flight: OnceLock<metrics::Gauge>,
}

impl Limiter {
    pub fn new(limits: &ClassLimits, label: (&'static str, &'static str)) -> Self {
        Self {
            slots: Semaphore::new(limits.concurrency),
            concurrency: limits.concurrency,
            waiting: AtomicUsize::new(0),
            max_waiting: limits.queue,
            max_wait: Duration::from_millis(limits.wait_ms),
            label,
            in_flight: OnceLock::new(),
        }
    }

    /// A slot, at once when one is free; else after waiting in the queue, if
    /// there is room in it and a slot frees up in time. A caller dropped
    /// while waiting leaves the queue.
    pub async fn acquire(&self) -> Result<Slot<'_>, Refused> {
        // Uncontended: one atomic operation, no allocation.
        if let Ok(permit) = self.slots.try_acquire() {
            return Ok(self.slot(permit));
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(self.refuse(Refused::QueueFull));
        }
        let _queued = Queued(&self.waiting);
        match tokio::time::timeout(self.max_wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => Ok(self.slot(permit)),
            // The semaphore is never closed; treated as no slot in time.
            Ok(Err(_)) | Err(_) => Err(self.refuse(Refused::WaitedTooLong)),
        }
    }

    /// Holders now.
    pub fn in_flight(&self) -> usize {
        self.concurrency - self.slots.available_permits()
    }

    /// Callers waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    fn slot<'a>(&'a self, permit: SemaphorePermit<'a>) -> Slot<'a> {
        let gauge = self.in_flight.get_or_init(|| {
            let (key, value) = self.label;
            metrics::gauge!("harmony_admission_in_flight", key => value)
        });
        gauge.increment(1.0);
        Slot {
            _permit: permit,
            gauge,
        }
    }

    fn refuse(&self, reason: Refused) -> Refused {
        let (key, value) = self.label;
        metrics::counter!("harmony_admission_refused_total", key => value, "reason" => reason.name())
            .increment(1);
        reason
    }
}

/// A held slot, returned on drop (also when the request is dropped).
pub struct Slot<'a> {
    _permit: SemaphorePermit<'a>,
    gauge: &'a metrics::Gauge,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.gauge.decrement(1.0);
    }
}

/// A place in a queue, given up on drop: when the wait ends, and when the
/// waiting request is dropped because its client went away.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One limiter per route class, and one per backing service the API bounds
/// itself (Postgres is bounded by its pool).
pub struct Admission {
    classes: [Limiter; 5],
    pub dynamodb: Limiter,
}

impl Admission {
    pub fn new(config: &AdmissionConfig) -> Self {
        let class = |class: RouteClass| {
            let limits = match class {
                RouteClass::Sends => &config.sends,
                RouteClass::Pages => &config.pages,
                RouteClass::OlderPages => &config.older_pages,
                RouteClass::Passwords => &config.passwords,
                RouteClass::Other => &config.other,
            };
            Limiter::new(limits, ("class", class.name()))
        };
        let dynamodb = ClassLimits::new(
            config.dynamodb_concurrency,
            // Waiting callers are bounded by the route classes already.
            usize::MAX,
            config.dynamodb_wait_ms,
        );
        Self {
            classes: RouteClass::ALL.map(class),
            dynamodb: Limiter::new(&dynamodb, ("dependency", "dynamodb")),
        }
    }

    pub fn class(&self, class: RouteClass) -> &Limiter {
        &self.classes[class.index()]
    }
}

/// The middleware: admits the request into its class or refuses it with 503
/// and `Retry-After` (without reading its body).
pub(super) async fn admit(State(app): State<App>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let class = RouteClass::of(request.method(), route, request.uri().query());
    let _slot = match app.admission.class(class).acquire().await {
        Ok(slot) => slot,
        Err(_) => return ApiError::Busy(BUSY).into_response(),
    };
    next.run(request).await
}

const BUSY: &str = "The server is busy; retry after the number of seconds in Retry-After.";

/// The refusal of a DynamoDB slot.
pub const HISTORY_BUSY: &str =
    "The history store is busy; retry after the number of seconds in Retry-After.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_fall_into_their_classes() {
        let chat = Some("/api/v1/chats/{chat_id}");
        assert_eq!(RouteClass::of(&Method::POST, chat, None), RouteClass::Sends);
        assert_eq!(
            RouteClass::of(&Method::GET, chat, Some("limit=50")),
            RouteClass::Pages
        );
        assert_eq!(
            RouteClass::of(&Method::GET, chat, Some("limit=50&cursor=")),
            RouteClass::Pages
        );
        assert_eq!(
            RouteClass::of(
                &Method::GET,
                chat,
                Some("limit=50&cursor=01J0000000000000000000000")
            ),
            RouteClass::OlderPages
        );
        assert_eq!(
            RouteClass::of(&Method::DELETE, chat, None),
            RouteClass::Other
        );
        for login in [
            "/api/v1/auth/token",
            "/api/v1/users/",
            "/api/v1/auth/session",
        ] {
            assert_eq!(
                RouteClass::of(&Method::POST, Some(login), None),
                RouteClass::Passwords
            );
        }
        assert_eq!(RouteClass::of(&Method::GET, None, None), RouteClass::Other);
    }

    /// A full queue refuses at once; a queued caller is refused when its wait
    /// runs out, and one that is dropped while queued leaves the queue.
    #[tokio::test]
    async fn a_limiter_bounds_holders_queue_and_wait() {
        let limiter = Limiter::new(&ClassLimits::new(1, 1, 50), ("class", "test"));
        let held = limiter.acquire().await.unwrap();
        assert_eq!(limiter.in_flight(), 1);
        let mut queued = Box::pin(limiter.acquire());
        assert!(futures::poll!(queued.as_mut()).is_pending());
        assert_eq!(limiter.waiting(), 1);
        assert_eq!(limiter.acquire().await.err(), Some(Refused::QueueFull));
        assert_eq!(queued.await.err(), Some(Refused::WaitedTooLong));
        assert_eq!(limiter.waiting(), 0);
        let mut abandoned = Box::pin(limiter.acquire());
        assert!(futures::poll!(abandoned.as_mut()).is_pending());
        drop(abandoned);
        assert_eq!(limiter.waiting(), 0);
        drop(held);
        assert_eq!(limiter.in_flight(), 0);
        assert!(limiter.acquire().await.is_ok());
    }
}
