//! Argon2id password hashes in PHC format. New hashes use the configured
//! parameters (OWASP's m=19 MiB, t=2, p=1 by default); hashes made with
//! others, such as the original's `m=65536,t=3,p=4`, verify because the
//! parameters travel in the hash, and are replaced at the next login.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};
use harmony_config::AuthConfig;
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// Every worker is busy and the queue is full, or the wait ran out.
    #[error("too many password checks at once")]
    Busy,
}

/// Hashing runs on the blocking pool, a bounded number at a time, so a burst
/// of logins never stalls other requests (design §9); a burst beyond the
/// queue is refused at once rather than left to wait past the client's timeout.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    workers: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    max_wait: Duration,
    /// Verified when the user does not exist, so timing does not reveal accounts.
    dummy_hash: Arc<String>,
}

impl Passwords {
    pub fn new(config: &AuthConfig) -> Result<Self, PasswordError> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            None,
        )
        .map_err(|e| PasswordError::Params(e.to_string()))?;
        let dummy_hash = hash_with(&params, "harmony-dummy-password")?;
        let workers = match config.password_workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        Ok(Self {
            params,
            workers: Arc::new(Semaphore::new(workers)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: config.password_queue,
            max_wait: Duration::from_millis(config.password_wait_ms),
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let params = self.params.clone();
        self.blocking(move || hash_with(&params, &password)).await?
    }

    /// False for a wrong password or a hash that cannot be parsed.
    pub async fn verify(
        &self,
        password: String,
        hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.as_str().to_owned());
        let matches = self
            .blocking(move || {
                PasswordHash::new(&hash)
                    .map(|parsed| {
                        Argon2::default()
                            .verify_password(password.as_bytes(), &parsed)
                            .is_ok()
                    })
                    .unwrap_or(false)
            })
            .await?;
        Ok(known && matches)
    }

    /// Whether `hash` was made with other parameters than new hashes get.
    pub fn needs_rehash(&self, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return true;
        };
        let current = |name: &str| parsed.params.get_decimal(name);
        parsed.algorithm.as_str() != Algorithm::Argon2id.as_str()
            || parsed.version != Some(Version::V0x13.into())
            || current("m") != Some(self.params.m_cost())
            || current("t") != Some(self.params.t_cost())
            || current("p") != Some(self.params.p_cost())
    }

    /// Runs `work` on the blocking pool once a worker is free. The worker is
    /// held by the work itself, so a request that gives up (its client went
    /// away) does not free a worker that is still hashing.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let worker = match self.workers.clone().try_acquire_owned() {
            Ok(worker) => worker,
            Err(_) => {
                // Counted while waiting, and no longer once the wait ends or
                // its request is dropped (its client went away).
                let place = QueuePlace(self.waiting.clone());
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
                    return Err(PasswordError::Busy);
                }
                let waited =
                    tokio::time::timeout(self.max_wait, self.workers.clone().acquire_owned()).await;
                drop(place);
                match waited {
                    Ok(Ok(worker)) => worker,
                    Ok(Err(closed)) => return Err(PasswordError::Hash(closed.to_string())),
                    Err(_) => return Err(PasswordError::Busy),
                }
            }
        };
        tokio::task::spawn_blocking(move || {
            let _worker = worker;
            work()
        })
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))
    }
}

/// One place in the queue for a worker; given back when dropped.
struct QueuePlace(Arc<AtomicUsize>);

impl Drop for QueuePlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn hash_with(params: &Params, password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_older_parameters_still_verify() {
        let passwords = Passwords::new(&AuthConfig::default()).unwrap();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!passwords.needs_rehash(&hash));
        assert!(
            passwords
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("wrong horse".into(), Some(hash))
                .await
                .unwrap()
        );
        assert!(!passwords.verify("x".into(), None).await.unwrap());
        assert!(
            !passwords
                .verify("x".into(), Some("not a hash".into()))
                .await
                .unwrap()
        );

        // A hash with the original's parameters verifies, and is due for a re-hash.
        let original = Params::new(65_536, 3, 4, None).unwrap();
        let old = hash_with(&original, "correct horse").unwrap();
        assert!(old.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"), "{old}");
        assert!(
            passwords
                .verify("correct horse".into(), Some(old.clone()))
                .await
                .unwrap()
        );
        assert!(passwords.needs_rehash(&old));
    }

    /// With every worker busy, waiting checks queue up to the limit; one more
    /// is refused at once, and a queued one is refused when its wait runs
    /// out. (Without the queue bound this was seen failing: the extra check
    /// waited instead of being refused.)
    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_a_long_wait_gives_up() {
        let config = AuthConfig {
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            password_workers: 1,
            password_queue: 1,
            password_wait_ms: 200,
            ..AuthConfig::default()
        };
        let passwords = Passwords::new(&config).unwrap();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy = tokio::spawn({
            let passwords = passwords.clone();
            async move { passwords.blocking(move || hold.recv().ok()).await }
        });
        while passwords.workers.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let queued = tokio::spawn({
            let passwords = passwords.clone();
            async move { passwords.hash("queued".into()).await }
        });
        while passwords.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let started = std::time::Instant::now();
        assert!(matches!(
            passwords.hash("one too many".into()).await,
            Err(PasswordError::Busy)
        ));
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "refused at once"
        );
        assert!(
            matches!(queued.await.unwrap(), Err(PasswordError::Busy)),
            "gave up after 200 ms"
        );
        release.send(()).unwrap();
        assert!(busy.await.unwrap().is_ok());
        assert!(passwords.hash("free again".into()).await.is_ok());
    }

    /// A waiting check whose request is dropped gives its queue place back.
    /// (Seen failing with the count lowered only after the wait, as before:
    /// the dropped check kept its place, `waiting` stayed 1, and with a
    /// queue of one every later check would be refused at once.)
    #[tokio::test]
    async fn an_abandoned_wait_gives_its_queue_place_back() {
        let config = AuthConfig {
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            password_workers: 1,
            password_queue: 1,
            password_wait_ms: 10_000,
            ..AuthConfig::default()
        };
        let passwords = Passwords::new(&config).unwrap();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy = tokio::spawn({
            let passwords = passwords.clone();
            async move { passwords.blocking(move || hold.recv().ok()).await }
        });
        while passwords.workers.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let abandoned = tokio::spawn({
            let passwords = passwords.clone();
            async move { passwords.hash("abandoned".into()).await }
        });
        while passwords.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        abandoned.abort();
        assert!(abandoned.await.unwrap_err().is_cancelled());
        assert_eq!(passwords.waiting.load(Ordering::SeqCst), 0);
        let next = tokio::spawn({
            let passwords = passwords.clone();
            async move { passwords.hash("next".into()).await }
        });
        while passwords.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        assert!(busy.await.unwrap().is_ok());
        assert!(next.await.unwrap().is_ok(), "the next check waited and ran");
    }
}
