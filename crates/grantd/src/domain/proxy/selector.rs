//! How a proxied call names its connection. Apart from the proxy's other
//! modules because both the call and the memory of connections use it.

/// Which connection a call uses, as the caller named it.
#[derive(Debug, Clone)]
pub enum ConnectionSelector {
    /// `x-amp-connection-id`.
    Id(String),
    /// `x-amp-group-ref` and `x-amp-provider`: exactly one may match.
    GroupAndProvider { group_ref: String, provider: String },
}
