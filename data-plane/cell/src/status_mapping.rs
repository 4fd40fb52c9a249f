//! tonic answers OUT_OF_RANGE for a request over the size limit; the real
//! server (and SDKs' retry logic) use RESOURCE_EXHAUSTED. Rewritten here, at
//! the edge, for every service.
use http::HeaderValue;
use tower::util::MapResponseLayer;

const OUT_OF_RANGE: &str = "11";
const RESOURCE_EXHAUSTED: &str = "8";

type Resp = http::Response<tonic::body::Body>;

pub fn layer() -> MapResponseLayer<fn(Resp) -> Resp> {
    MapResponseLayer::new(map as fn(Resp) -> Resp)
}

fn map(mut response: Resp) -> Resp {
    let headers = response.headers_mut();
    if headers
        .get("grpc-status")
        .is_some_and(|v| v == OUT_OF_RANGE)
    {
        headers.insert("grpc-status", HeaderValue::from_static(RESOURCE_EXHAUSTED));
    }
    response
}
