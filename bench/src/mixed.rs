//! The `mixed` scenario: the original's stress mix, by weight, each request
//! checked against the status it must get (a refusal that should be a 403
//! counts as a success only when it is one).
//!
//! | share | action |
//! |---|---|
//! | 34 % | send a message to the lane's chat |
//! | 21 % | read the newest history page |
//! | 8 % | create a chat |
//! | 4 % | sign up and log in a new account |
//! | 4 % | delete a chat this lane created, or close an account it signed up (alternately) |
//! | 17 % | requests that must be refused: a chat the user is not in (403), blank content (422), no token (401) |
//! | 12 % | membership and list checks: the user's chats, the chat's members |

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::Lane;
use harmony_bench::http::{Target, create_chat, sign_up};

/// One action of the mix, chosen by the lane's turn (a fixed, well-spread sequence).
pub async fn one(target: &Target, lane: &Lane) -> bool {
    let turn = {
        let mut turn = lane.turn.lock().await;
        *turn += 1;
        *turn
    };
    let pick = turn.wrapping_mul(2_654_435_761) % 100;
    let chat = format!("/api/v1/chats/{}", lane.chat);
    let token = Some(lane.token.as_str());
    // A failure says what it got: the scenario's failures must be explainable.
    let expect =
        |result: anyhow::Result<(StatusCode, bytes::Bytes)>, status: StatusCode| match result {
            Ok((got, _)) if got == status => true,
            Ok((got, body)) => {
                eprintln!(
                    "mixed: expected {status}, got {got}: {}",
                    String::from_utf8_lossy(&body)
                );
                false
            }
            Err(error) => {
                eprintln!("mixed: expected {status}, got {error:#}");
                false
            }
        };
    let body = |value: serde_json::Value| Some(("application/json", value.to_string()));
    match pick {
        0..34 => expect(
            target
                .call(
                    Method::POST,
                    &chat,
                    token,
                    body(json!({ "content": "mixed", "client_uuid": uuid::Uuid::new_v4() })),
                )
                .await,
            StatusCode::CREATED,
        ),
        34..55 => expect(
            target.call(Method::GET, &chat, token, None).await,
            StatusCode::OK,
        ),
        55..63 => match create_chat(target, &lane.token, "mixed", &[]).await {
            Ok(id) => {
                lane.created.lock().await.push(id);
                true
            }
            Err(error) => {
                eprintln!("mixed: creating a chat failed: {error:#}");
                false
            }
        },
        63..67 => match sign_up(target).await {
            Ok((new_token, _)) => {
                lane.accounts.lock().await.push(new_token);
                true
            }
            Err(error) => {
                eprintln!("mixed: signing up failed: {error:#}");
                false
            }
        },
        67..71 => {
            if turn.is_multiple_of(2)
                && let Some(id) = lane.created.lock().await.pop()
            {
                expect(
                    target
                        .call(Method::DELETE, &format!("/api/v1/chats/{id}"), token, None)
                        .await,
                    StatusCode::NO_CONTENT,
                )
            } else if let Some(account) = lane.accounts.lock().await.pop() {
                expect(
                    target
                        .call(Method::DELETE, "/api/v1/users/me", Some(&account), None)
                        .await,
                    StatusCode::NO_CONTENT,
                )
            } else {
                expect(
                    target
                        .call(Method::GET, "/api/v1/users/me/chats", token, None)
                        .await,
                    StatusCode::OK,
                )
            }
        }
        71..88 => match turn % 3 {
            0 => expect(
                target
                    .call(
                        Method::GET,
                        &format!("/api/v1/chats/{}", uuid::Uuid::new_v4()),
                        token,
                        None,
                    )
                    .await,
                StatusCode::FORBIDDEN,
            ),
            1 => expect(
                target
                    .call(
                        Method::POST,
                        &chat,
                        token,
                        body(json!({ "content": "   " })),
                    )
                    .await,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            _ => expect(
                target.call(Method::GET, &chat, None, None).await,
                StatusCode::UNAUTHORIZED,
            ),
        },
        _ => {
            let path = if turn.is_multiple_of(2) {
                "/api/v1/users/me/chats".to_owned()
            } else {
                format!("{chat}/members")
            };
            expect(
                target.call(Method::GET, &path, token, None).await,
                StatusCode::OK,
            )
        }
    }
}
