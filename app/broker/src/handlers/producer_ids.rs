//! InitProducerId: ids for idempotent producers (transactions are not
//! supported).

use kafka_protocol::{
    error::ResponseError,
    messages::{
        InitProducerIdRequest, ProducerId, init_producer_id_response::InitProducerIdResponse,
    },
};

use super::answer::code;
use crate::broker::Broker;

pub fn init_producer_id(broker: &Broker, request: InitProducerIdRequest) -> InitProducerIdResponse {
    if request.transactional_id.is_some() {
        // Transactions are not supported. Kafka answers this code when a
        // transactional id may not be used; clients treat it as fatal and fail
        // at once, where UNSUPPORTED_VERSION made librdkafka retry forever.
        return InitProducerIdResponse::default()
            .with_error_code(code(ResponseError::TransactionalIdAuthorizationFailed))
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(broker.next_producer_id()))
        .with_producer_epoch(0)
}
