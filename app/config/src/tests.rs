use super::*;

#[test]
fn environment_overrides_nested_settings_and_keeps_strings_as_strings() {
    let config = Config::from_env_pairs([
        ("POSTGRES__URL", "postgres://u:1234@db:5432/x"),
        ("TOPICS__MESSAGES__PARTITIONS", "12"),
        ("TOPICS__MESSAGES__NAME", "12345"),
        ("KAFKA__SASL_PASSWORD", "987"),
        ("PATH", "/usr/bin"),
    ])
    .unwrap();
    assert_eq!(config.postgres.url.expose(), "postgres://u:1234@db:5432/x");
    assert_eq!(config.topics.messages.partitions, 12);
    assert_eq!(config.topics.messages.name, "12345");
    assert_eq!(config.kafka.sasl_password.unwrap().expose(), "987");
    assert_eq!(
        config.topics.chat_events,
        TopicsConfig::default().chat_events
    );
}

#[test]
fn a_bad_value_names_the_variable() {
    let error = Config::from_env_pairs([("TOPICS__MESSAGES__PARTITIONS", "many")]).unwrap_err();
    assert!(
        error.to_string().contains("TOPICS__MESSAGES__PARTITIONS"),
        "{error}"
    );
    let error = Config::from_env_pairs([("POSTGRES__URLL", "x")]).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("POSTGRES__URLL is not a setting"),
        "{error}"
    );
    let error = Config::from_env_pairs([("APP__ENV", "prod")]).unwrap_err();
    assert!(error.to_string().contains("APP__ENV"), "{error}");
}

#[test]
fn secrets_never_print() {
    let config = Config::from_env_pairs([("POSTGRES__URL", "postgres://u:hunter2@db/x")]).unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
    assert!(!serde_json::to_string(&config).unwrap().contains("hunter2"));
}

#[test]
fn the_settings_table_lists_every_leaf_setting() {
    let table = markdown_table();
    for name in [
        "POSTGRES__URL",
        "TOPICS__USER_EVENTS__PARTITIONS",
        "DYNAMODB__SECRET_ACCESS_KEY",
        "APP__ENV",
    ] {
        assert!(
            table.contains(&format!("`{name}`")),
            "{name} missing from\n{table}"
        );
    }
}

#[test]
fn docs_configuration_md_is_up_to_date() {
    let docs = include_str!("../../../docs/configuration.md");
    assert!(
        docs.contains(&markdown_table()),
        "docs/configuration.md is stale: run `cargo run -p harmony -- config docs` and paste the table"
    );
}

#[test]
fn production_refuses_the_development_keys() {
    let error = Config::from_env_pairs([("APP__ENV", "production")]).unwrap_err();
    assert!(error.to_string().contains("AUTH__SECRET_KEY"), "{error}");
    assert!(error.to_string().contains("AUTH__PROXY_SECRET"), "{error}");
    assert!(
        error.to_string().contains("REALTIME__TOKEN_SECRET"),
        "{error}"
    );
    let config = Config::from_env_pairs([
        ("APP__ENV", "production"),
        ("AUTH__SECRET_KEY", "0123456789abcdef0123456789abcdef"),
        ("AUTH__PROXY_SECRET", "0123456789abcdef"),
        ("REALTIME__TOKEN_SECRET", "fedcba9876543210fedcba9876543210"),
    ]);
    assert!(config.is_ok(), "{config:?}");
}

/// Removing the emptiness check in `Config::validate` makes this fail: an
/// empty signing key or proxy secret was accepted in development.
#[test]
fn empty_secrets_are_refused_in_every_environment() {
    for env in ["development", "production"] {
        for name in [
            "AUTH__SECRET_KEY",
            "AUTH__PROXY_SECRET",
            "REALTIME__TOKEN_SECRET",
        ] {
            let error = Config::from_env_pairs([("APP__ENV", env), (name, "  ")]).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(&format!("{name} must not be empty")),
                "{env} {name}: {error}"
            );
        }
    }
}

/// Seen failing with the `ssl.ca.location` insertion removed: librdkafka then
/// falls back to OpenSSL's compiled-in directory, absent from distroless.
#[test]
fn kafka_tls_always_names_where_the_cas_are() {
    let mut kafka = KafkaConfig::default();
    assert_eq!(kafka.client_properties().get("ssl.ca.location"), None);
    for protocol in ["ssl", "SASL_SSL"] {
        kafka.security_protocol = protocol.into();
        assert_eq!(
            kafka.client_properties()["ssl.ca.location"],
            "probe",
            "{protocol}"
        );
    }
    kafka.ssl_ca_location = Some("/etc/harmony/msk-ca.pem".into());
    assert_eq!(
        kafka.client_properties()["ssl.ca.location"],
        "/etc/harmony/msk-ca.pem"
    );
    kafka.security_protocol = "sasl_plaintext".into();
    assert_eq!(kafka.client_properties().get("ssl.ca.location"), None);
}
