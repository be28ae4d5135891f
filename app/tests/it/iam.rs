//! IAM from real calls: every role that reaches DynamoDB runs against the
//! local server through a recorder of the actions it makes, readiness
//! included, while the platform is used end to end; terraform must grant
//! each role's service account exactly those actions
//! (terraform/modules/iam/table-actions.json, read by the iam module). The
//! reclaim Job runs as the migrate role.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::Request,
    http::{Method, StatusCode, Uri},
    response::IntoResponse,
};
use harmony::{
    ops,
    roles::{
        cdc::Cdc,
        migrate::{self, Target},
        reclaim::{self, Store},
        relay::Relay,
        sink::Sink,
    },
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tokio_util::sync::CancellationToken;

use crate::{client::TestApp, support::TestEnv};

/// What terraform grants each component's role on the chat history table.
const GRANTED: &str = include_str!("../../../terraform/modules/iam/table-actions.json");

/// A DynamoDB endpoint that forwards every request to the local server and
/// records its action (`X-Amz-Target: DynamoDB_20120810.<Action>`).
struct Recorder {
    url: String,
    actions: Arc<Mutex<BTreeSet<String>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Recorder {
    async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let actions: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let client: Client<HttpConnector, Body> =
            Client::builder(TokioExecutor::new()).build_http();
        let upstream: Uri = upstream.parse().unwrap();
        let recorded = actions.clone();
        let app = Router::new().fallback(move |mut request: Request| {
            let (client, upstream, recorded) = (client.clone(), upstream.clone(), recorded.clone());
            async move {
                if let Some(action) = request
                    .headers()
                    .get("x-amz-target")
                    .and_then(|target| target.to_str().ok())
                    .and_then(|target| target.split_once('.'))
                {
                    recorded
                        .lock()
                        .unwrap()
                        .insert(format!("dynamodb:{}", action.1));
                }
                let mut parts = upstream.into_parts();
                parts.path_and_query = request.uri().path_and_query().cloned();
                *request.uri_mut() = Uri::from_parts(parts).unwrap();
                match client.request(request).await {
                    Ok(response) => response.map(Body::new).into_response(),
                    Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
                }
            }
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            actions,
            server,
        }
    }

    fn actions(&self) -> BTreeSet<String> {
        self.actions.lock().unwrap().clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Seen failing on the grants terraform had before the actions were
/// recorded: api was granted GetItem and lacked DescribeTable (its
/// readiness check), sink PutItem, cdc DeleteItem, and none but migrate
/// could call DescribeTable, so api, sink and cdc never became Ready.
#[tokio::test]
async fn terraform_grants_each_role_exactly_the_dynamodb_actions_it_calls() {
    let env = TestEnv::new().await;
    // Terraform's table does not carry the tag `harmony migrate` puts on one it creates.
    let arn = env
        .table
        .client()
        .describe_table()
        .table_name(env.table.name())
        .send()
        .await
        .unwrap()
        .table
        .and_then(|table| table.table_arn)
        .unwrap();
    env.table
        .client()
        .untag_resource()
        .resource_arn(arn)
        .tag_keys(harmony::store::dynamodb::CREATED_BY.0)
        .send()
        .await
        .unwrap();
    let upstream = &env.config.dynamodb.url;
    let recorders: BTreeMap<&str, Recorder> = futures::future::join_all(
        ["api", "sink", "cdc", "migrate"]
            .map(|role| async move { (role, Recorder::start(upstream).await) }),
    )
    .await
    .into_iter()
    .collect();
    let config_of = |role: &str| {
        let mut config = env.config.clone();
        config.dynamodb.url = recorders[role].url.clone();
        config.cdc.group_id = format!("cdc-{}", env.id);
        config.cdc.retry_backoff_ms = 10;
        config
    };
    let (sink_config, cdc_config, migrate_config) =
        (config_of("sink"), config_of("cdc"), config_of("migrate"));
    let mut api_env = env;
    api_env.config.dynamodb.url = recorders["api"].url.clone();
    let t = TestApp::over(api_env, false).await;

    // The migration Job, on a table terraform created.
    migrate::run(&migrate_config, &[Target::Dynamodb])
        .await
        .expect("the migration finds the table");

    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let mut sink_config = sink_config;
    sink_config.sink.group_id = t.env.config.sink.group_id.clone();
    let sink = Sink::new(&sink_config).await.unwrap();
    let cdc = Cdc::new(&cdc_config).await.unwrap();
    for (role, dependencies) in [("sink", sink.dependencies()), ("cdc", cdc.dependencies())] {
        let readiness = ops::readiness(&dependencies).await;
        assert!(readiness.ready, "{role}: {:?}", readiness.checks);
    }
    tokio::spawn(sink.run(shutdown.clone()));
    tokio::spawn(cdc.run(shutdown.clone()));
    let relay = Relay::new(&t.env.config, t.env.pool.clone()).unwrap();
    tokio::spawn(relay.run(shutdown.clone()));

    let ready = t.get("/readyz").send().await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    let ann = t.user("ann").await;
    let bob = t.user("bob").await;
    let chat = t.chat(&ann, &[&bob]).await;
    for n in 0..3 {
        let sent = t.send(&ann, chat, &format!("message {n}")).await;
        assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    }
    until("the sink writes the messages", async || {
        t.env
            .table
            .page(chat, 10, None)
            .await
            .unwrap()
            .messages
            .len()
            == 3
    })
    .await;
    // A reply reads the message it answers (GetItem, consistent).
    let first = t.env.table.page(chat, 10, None).await.unwrap().messages[2]
        .ulid
        .clone();
    let reply = t
        .post(&format!("/api/v1/chats/{chat}"))
        .bearer(&bob.access)
        .json(serde_json::json!({ "content": "re", "reply_to": first }))
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    // Changes to messages: an edit and reactions (UpdateItem), a deletion
    // (a tombstone put), each reaching the reply's quote and the cache.
    let message = |ulid: &str| format!("/api/v1/chats/{chat}/messages/{ulid}");
    let edited = t
        .call(Method::PATCH, &message(&first))
        .bearer(&ann.access)
        .json(serde_json::json!({ "content": "message 0, edited" }))
        .send()
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    let reacted = t
        .call(
            Method::PUT,
            &format!("{}/reactions/%F0%9F%91%8D", message(&first)),
        )
        .bearer(&bob.access)
        .send()
        .await;
    assert_eq!(reacted.status, StatusCode::OK, "{}", reacted.body);
    let removed = t.delete(&message(&first)).bearer(&ann.access).send().await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    until("the sink stores the deletion", async || {
        t.env
            .table
            .message(chat, &first)
            .await
            .unwrap()
            .is_some_and(|m| m.deleted)
    })
    .await;
    // The newest page may come from Redis; an older one is always a Query.
    let newest = t
        .get(&format!("/api/v1/chats/{chat}?limit=1"))
        .bearer(&bob.access)
        .send()
        .await;
    assert_eq!(newest.status, StatusCode::OK, "{}", newest.body);
    let cursor = newest.body["next_cursor"].as_str().unwrap().to_owned();
    let older = t
        .get(&format!("/api/v1/chats/{chat}?limit=1&cursor={cursor}"))
        .bearer(&bob.access)
        .send()
        .await;
    assert_eq!(older.status, StatusCode::OK, "{}", older.body);
    let closed = t
        .delete("/api/v1/users/me")
        .bearer(&bob.access)
        .send()
        .await;
    assert_eq!(closed.status, StatusCode::NO_CONTENT, "{}", closed.body);
    let deleted = t
        .delete(&format!("/api/v1/chats/{chat}"))
        .bearer(&ann.access)
        .send()
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    until("the cdc purges the deleted chat's history", async || {
        t.env
            .table
            .page(chat, 10, None)
            .await
            .unwrap()
            .messages
            .is_empty()
    })
    .await;

    // The reclaim Job (the migrate role) of a deleted HarmonyChat keeps terraform's table.
    let kept = reclaim::run(&migrate_config, &[Store::Dynamodb], |_| {})
        .await
        .expect("reclaim reads the table's tags");
    assert!(kept[0].starts_with("dynamodb: kept table"), "{kept:?}");

    let recorded: BTreeMap<String, BTreeSet<String>> = recorders
        .iter()
        .map(|(role, recorder)| ((*role).to_owned(), recorder.actions()))
        .collect();
    let granted: BTreeMap<String, BTreeSet<String>> =
        serde_json::from_str(GRANTED).expect("table-actions.json: role -> actions");
    assert_eq!(
        granted, recorded,
        "terraform/modules/iam/table-actions.json (left) must equal the DynamoDB actions each role really calls (right)"
    );
}

async fn until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while !condition().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: not within 30 s"));
}
