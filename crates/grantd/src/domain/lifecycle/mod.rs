//! What happens to a connection after it is made: its tokens are renewed
//! (`refresh`), changes are recorded (`events`) and pushed to the project's
//! endpoints (`webhooks`, delivered by `webhook_delivery` through the
//! address guard in `webhook_egress`).

pub mod events;
pub mod gauges;
pub mod refresh;
pub mod webhook_delivery;
pub mod webhook_egress;
pub mod webhook_signing;
pub mod webhooks;
