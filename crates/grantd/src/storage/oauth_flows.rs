use super::columns::{json_text, row_from_columns};
use super::write_queue::{Write, WriteFuture};
use super::{plain_tuple, values_list, Store, StoreResult};
use crate::vocab::ProviderMetadata;
use sqlx::AnyConnection;
use std::sync::LazyLock;

/// One started authorization flow, keyed by the SHA-256 of its state.
#[derive(Debug, Clone)]
pub struct OAuthFlowRow {
    pub state_hash: String,
    pub project_id: String,
    pub provider: String,
    pub provider_app_id: String,
    pub connection_id: Option<String>,
    pub group_ref: String,
    pub group_name: Option<String>,
    pub consumer_ref: String,
    pub consumer_name: Option<String>,
    pub provider_workspace_ref: Option<String>,
    /// The metadata supplied when the flow started (stored as JSON).
    pub provider_metadata: ProviderMetadata,
    /// The scopes requested (stored as a JSON array).
    pub scopes: Vec<String>,
    pub redirect_uri: String,
    pub opener_origin: String,
    pub code_verifier_key_id: Option<String>,
    pub code_verifier_ciphertext: Option<Vec<u8>>,
    pub create_time: i64,
    pub expire_time: i64,
    /// 1 when the callback must see the flow's CSRF cookie.
    pub csrf_protected: i64,
    /// SHA-256 of the CSRF cookie, set once by the bounce endpoint.
    pub csrf_hash: Option<String>,
    /// The sealed authorization URL of a CSRF-protected flow.
    pub authorize_url_key_id: Option<String>,
    pub authorize_url_ciphertext: Option<Vec<u8>>,
    /// The connect session that started the flow, if any.
    pub connect_session_id: Option<String>,
}

pub type NewOAuthFlow = OAuthFlowRow;

row_from_columns!(OAuthFlowRow in "oauth_flows" {
    state_hash: get, project_id: get, provider: get, provider_app_id: get, connection_id: get,
    group_ref: get, group_name: get, consumer_ref: get, consumer_name: get,
    provider_workspace_ref: get, provider_metadata: json, scopes: json, redirect_uri: get,
    opener_origin: get, code_verifier_key_id: get, code_verifier_ciphertext: get,
    create_time: get, expire_time: get, csrf_protected: get, csrf_hash: get,
    authorize_url_key_id: get, authorize_url_ciphertext: get, connect_session_id: get,
});

/// What the bounce endpoint needs of a flow it just bound to a browser.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BoundFlow {
    pub state_hash: String,
    pub expire_time: i64,
    pub csrf_hash: Option<String>,
    pub authorize_url_key_id: Option<String>,
    pub authorize_url_ciphertext: Option<Vec<u8>>,
}

/// How a consumed flow ended, recorded for support and auditing.
#[derive(Debug, Clone, Copy)]
pub enum FlowOutcome {
    Success,
    ProviderError,
    ExchangeFailed,
    /// The state came back without the CSRF cookie of the browser that started it.
    CsrfRejected,
}

impl FlowOutcome {
    fn as_str(self) -> &'static str {
        match self {
            FlowOutcome::Success => "success",
            FlowOutcome::ProviderError => "provider_error",
            FlowOutcome::ExchangeFailed => "exchange_failed",
            FlowOutcome::CsrfRejected => "csrf_rejected",
        }
    }
}

const COLUMNS: &str = "state_hash, project_id, provider, provider_app_id, connection_id, group_ref, \
     group_name, consumer_ref, consumer_name, provider_workspace_ref, provider_metadata, scopes, \
     redirect_uri, opener_origin, code_verifier_key_id, code_verifier_ciphertext, create_time, expire_time, \
     csrf_protected, csrf_hash, authorize_url_key_id, authorize_url_ciphertext, connect_session_id";

impl Store {
    /// Stores a new flow (through the write queue: flow starts are the
    /// busiest write).
    pub async fn insert_oauth_flow(&self, flow: NewOAuthFlow) -> StoreResult<()> {
        self.queue.submit(InsertOAuthFlow(flow)).await
    }

    /// Marks the flow consumed and returns it, in one statement: of two
    /// callbacks racing with the same state exactly one gets the row.
    /// Unknown, already consumed and expired states all return `None`.
    pub async fn consume_oauth_flow(
        &self,
        state_hash: &str,
        now: i64,
    ) -> StoreResult<Option<OAuthFlowRow>> {
        self.queue
            .submit(ConsumeFlow {
                state_hash: state_hash.to_owned(),
                now,
            })
            .await
    }

    /// Binds a CSRF-protected flow to a browser: stores the hash of its
    /// cookie, once. Of two browsers racing with one bounce URL exactly one
    /// wins; a consumed, expired, unprotected or already bound flow returns
    /// `None`.
    pub async fn bind_oauth_flow_csrf(
        &self,
        state_hash: &str,
        csrf_hash: &str,
        now: i64,
    ) -> StoreResult<Option<BoundFlow>> {
        Ok(sqlx::query_as::<_, BoundFlow>(
            "UPDATE oauth_flows SET csrf_hash = $1 \
             WHERE state_hash = $2 AND csrf_protected = 1 AND csrf_hash IS NULL \
               AND consumed_time IS NULL AND expire_time > $3 \
             RETURNING state_hash, expire_time, csrf_hash, authorize_url_key_id, authorize_url_ciphertext",
        )
        .bind(csrf_hash)
        .bind(state_hash)
        .bind(now)
        .fetch_optional(&self.writer)
        .await?)
    }

    /// A protected flow already bound to a browser and still open, so that
    /// the same browser can come back for its redirect (a closed popup).
    pub async fn find_bound_oauth_flow(
        &self,
        state_hash: &str,
        now: i64,
    ) -> StoreResult<Option<BoundFlow>> {
        Ok(sqlx::query_as::<_, BoundFlow>(
            "SELECT state_hash, expire_time, csrf_hash, authorize_url_key_id, authorize_url_ciphertext \
             FROM oauth_flows WHERE state_hash = $1 AND csrf_protected = 1 AND csrf_hash IS NOT NULL \
               AND consumed_time IS NULL AND expire_time > $2",
        )
        .bind(state_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn record_oauth_flow_outcome(
        &self,
        state_hash: &str,
        outcome: FlowOutcome,
        detail: Option<&str>,
        connection_id: Option<&str>,
    ) -> StoreResult<()> {
        self.queue
            .submit(RecordOutcome {
                state_hash: state_hash.to_owned(),
                outcome,
                detail: detail.map(str::to_owned),
                connection_id: connection_id.map(str::to_owned),
            })
            .await
    }

    /// Deletes flows that expired before `cutoff`; returns how many.
    pub async fn purge_oauth_flows(&self, cutoff: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM oauth_flows WHERE expire_time < $1")
            .bind(cutoff)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }
}

static INSERT_FLOW: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO oauth_flows ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21, $22, $23)"
    )
});

struct InsertOAuthFlow(NewOAuthFlow);

impl Write for InsertOAuthFlow {
    type Output = ();

    fn run<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, ()> {
        Box::pin(async move {
            bind_flow(sqlx::query(INSERT_FLOW.as_str()), &self.0)
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    /// Multi-row `INSERT`s for flows started together, a few rows each
    /// (binding a statement's parameters costs more than linear time in
    /// their number on SQLite).
    fn run_many<'c>(
        writes: Vec<&'c Self>,
        conn: &'c mut AnyConnection,
    ) -> WriteFuture<'c, Vec<()>> {
        Box::pin(async move {
            for chunk in writes.chunks(ROWS_PER_INSERT) {
                let sql = format!(
                    "INSERT INTO oauth_flows ({COLUMNS}) VALUES {}",
                    values_list(chunk.len(), FLOW_PARAMS, plain_tuple(FLOW_PARAMS))
                );
                let mut query = sqlx::query(&sql);
                for write in chunk {
                    query = bind_flow(query, &write.0);
                }
                query.execute(&mut *conn).await?;
            }
            Ok(vec![(); writes.len()])
        })
    }
}

/// Rows per multi-row `INSERT`.
const ROWS_PER_INSERT: usize = 8;

/// Columns (and so parameters) of one flow row.
const FLOW_PARAMS: usize = 23;

fn bind_flow<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    flow: &'q NewOAuthFlow,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(&flow.state_hash)
        .bind(&flow.project_id)
        .bind(&flow.provider)
        .bind(&flow.provider_app_id)
        .bind(&flow.connection_id)
        .bind(&flow.group_ref)
        .bind(&flow.group_name)
        .bind(&flow.consumer_ref)
        .bind(&flow.consumer_name)
        .bind(&flow.provider_workspace_ref)
        .bind(json_text(&flow.provider_metadata))
        .bind(json_text(&flow.scopes))
        .bind(&flow.redirect_uri)
        .bind(&flow.opener_origin)
        .bind(&flow.code_verifier_key_id)
        .bind(&flow.code_verifier_ciphertext)
        .bind(flow.create_time)
        .bind(flow.expire_time)
        .bind(flow.csrf_protected)
        .bind(&flow.csrf_hash)
        .bind(&flow.authorize_url_key_id)
        .bind(&flow.authorize_url_ciphertext)
        .bind(&flow.connect_session_id)
}

static CONSUME_FLOW: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE oauth_flows SET consumed_time = $1 \
         WHERE state_hash = $2 AND consumed_time IS NULL AND expire_time > $1 \
         RETURNING {COLUMNS}"
    )
});

struct ConsumeFlow {
    state_hash: String,
    now: i64,
}

impl Write for ConsumeFlow {
    type Output = Option<OAuthFlowRow>;

    fn run<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, Option<OAuthFlowRow>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, OAuthFlowRow>(CONSUME_FLOW.as_str())
                .bind(self.now)
                .bind(&self.state_hash)
                .fetch_optional(conn)
                .await?)
        })
    }
}

struct RecordOutcome {
    state_hash: String,
    outcome: FlowOutcome,
    detail: Option<String>,
    connection_id: Option<String>,
}

impl Write for RecordOutcome {
    type Output = ();

    fn run<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, ()> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE oauth_flows SET outcome = $1, outcome_detail = $2, result_connection_id = $3 \
                 WHERE state_hash = $4",
            )
            .bind(self.outcome.as_str())
            .bind(&self.detail)
            .bind(&self.connection_id)
            .bind(&self.state_hash)
            .execute(conn)
            .await?;
            Ok(())
        })
    }
}

/// Records that the flow ended in the connection `connection_id`, inside
/// the transaction that stores it.
pub(super) async fn record_success(
    conn: &mut AnyConnection,
    state_hash: &str,
    connection_id: &str,
) -> StoreResult<()> {
    RecordOutcome {
        state_hash: state_hash.to_owned(),
        outcome: FlowOutcome::Success,
        detail: None,
        connection_id: Some(connection_id.to_owned()),
    }
    .run(conn)
    .await
}
