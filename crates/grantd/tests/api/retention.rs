//! Retention: old events and finished webhook deliveries are pruned in
//! batches, and nothing recent or still waiting to be sent is touched.

use crate::helpers::spawn_app_with;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

const DAY: i64 = 86_400_000;

#[tokio::test]
async fn retention_prunes_old_events_and_finished_deliveries_and_keeps_the_rest() {
    let app = spawn_app_with(|config| {
        config.retention.interval = Duration::from_millis(50);
        config.retention.batch = 2;
    })
    .await;
    let hook = app
        .post_json(
            &app.project_url("/webhooks"),
            &json!({"url": "https://hooks.example.com/grantd"}),
        )
        .await;
    assert_eq!(hook.status(), StatusCode::CREATED);
    let mut ids = Vec::new();
    for i in 0..6 {
        let created = app
            .generate(
                &json!({"provider": "mock", "groupRef": format!("g{i}"), "consumerRef": "c",
                "oauth2AuthorizationCode": {"accessToken": {"token": "at"}}}),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        ids.push(
            created.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let db = app.db().await;
    let now = chrono::Utc::now().timestamp_millis();
    // (events' age, deliveries' status and age) per connection.
    let ages = [
        (100 * DAY, "delivered", 40 * DAY),
        (100 * DAY, "delivered", 40 * DAY),
        (100 * DAY, "failed", 40 * DAY),
        (100 * DAY, "pending", 40 * DAY),
        (DAY, "delivered", DAY),
    ];
    for (id, (event_age, status, delivery_age)) in ids.iter().zip(ages) {
        sqlx::query("UPDATE connection_events SET created_at = $1 WHERE connection_id = $2")
            .bind(now - event_age)
            .bind(id)
            .execute(&db)
            .await
            .unwrap();
        // Cleared leases keep the delivery worker from writing over these,
        // and the kept pending one is not due before the test ends.
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, created_at = $2, lease_owner = NULL, \
             lease_until = NULL, next_attempt_at = $3 WHERE event_id IN \
             (SELECT id FROM connection_events WHERE connection_id = $4)",
        )
        .bind(status)
        .bind(now - delivery_age)
        .bind((status == "pending").then_some(now + DAY))
        .bind(id)
        .execute(&db)
        .await
        .unwrap();
    }
    let connections_with = |sql: &'static str| {
        let db = db.clone();
        async move {
            let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(&db).await.unwrap();
            rows.into_iter().map(|(id,)| id).collect::<BTreeSet<_>>()
        }
    };
    let kept: BTreeSet<String> = ids[3..].iter().cloned().collect();
    let mut seen = (BTreeSet::new(), BTreeSet::new());
    for _ in 0..400 {
        seen = (
            connections_with("SELECT connection_id FROM connection_events").await,
            connections_with(
                "SELECT e.connection_id FROM webhook_deliveries d \
                 JOIN connection_events e ON e.id = d.event_id",
            )
            .await,
        );
        if seen.0 == kept && seen.1 == kept {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(seen.0, kept, "events left");
    assert_eq!(seen.1, kept, "deliveries left");
    let (pending,): (String,) = sqlx::query_as(
        "SELECT d.status FROM webhook_deliveries d JOIN connection_events e \
         ON e.id = d.event_id WHERE e.connection_id = $1",
    )
    .bind(&ids[3])
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(pending, "pending");
}

#[tokio::test]
async fn audit_records_past_their_retention_are_pruned_and_recent_ones_kept() {
    let app = spawn_app_with(|config| {
        config.retention.interval = Duration::from_millis(50);
        config.retention.batch = 2;
    })
    .await;
    let db = app.db().await;
    let now = chrono::Utc::now().timestamp_millis();
    // The trail refuses updates, so old records are written old.
    for (id, age) in [
        ("old-1", 500 * DAY),
        ("old-2", 401 * DAY),
        ("old-3", 450 * DAY),
        ("recent", 399 * DAY),
    ] {
        sqlx::query(
            "INSERT INTO audit_records (id, project_id, occurred_at, action, caller_kind) \
             VALUES ($1, $2, $3, 'credentials.read', 'cli')",
        )
        .bind(id)
        .bind(&app.project_id)
        .bind(now - age)
        .execute(&db)
        .await
        .unwrap();
    }
    let mut left = Vec::new();
    for _ in 0..400 {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM audit_records WHERE id IN ('old-1', 'old-2', 'old-3', 'recent')",
        )
        .fetch_all(&db)
        .await
        .unwrap();
        left = rows.into_iter().map(|(id,)| id).collect();
        if left == ["recent"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(left, ["recent"]);
}
