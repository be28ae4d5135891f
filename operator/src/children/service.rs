//! Services: the API (Centrifugo's proxy target) and the real-time server
//! browsers connect to (Centrifugo or the embedded gateway).

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{Component, Instance};
use super::pod::{CENTRIFUGO_PORT, HTTP_PORT};

pub fn api(instance: &Instance<'_>) -> Service {
    http_service(instance, Component::Api, HTTP_PORT, "ClusterIP")
}

pub fn centrifugo(instance: &Instance<'_>) -> Service {
    let service_type = instance.hc.spec.centrifugo.service_type.as_str();
    http_service(
        instance,
        Component::Centrifugo,
        CENTRIFUGO_PORT,
        service_type,
    )
}

/// The embedded gateway, typed like Centrifugo's Service (browsers connect to it).
pub fn gateway(instance: &Instance<'_>) -> Service {
    let service_type = instance.hc.spec.centrifugo.service_type.as_str();
    http_service(instance, Component::Gateway, HTTP_PORT, service_type)
}

fn http_service(
    instance: &Instance<'_>,
    component: Component,
    port: i32,
    service_type: &str,
) -> Service {
    Service {
        metadata: instance.component_metadata(component),
        spec: Some(ServiceSpec {
            type_: Some(service_type.to_owned()),
            selector: Some(instance.selector_labels(component)),
            ports: Some(vec![ServicePort {
                name: Some("http".to_owned()),
                port,
                target_port: Some(IntOrString::String("http".to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}
