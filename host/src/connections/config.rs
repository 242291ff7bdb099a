//! Checking a connection's config against the adapter's manifest, and
//! splitting it into public values and secrets.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::certificates::key::{KeyKind, parse_private_key};
use crate::contract::FieldError;
use crate::manifest::{ConfigField, ConfigType};
use crate::runtime::PLATFORM_KEY;

/// Config values by field name.
pub type ConfigValues = BTreeMap<String, String>;

/// The config was refused; one error per field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<FieldError>);

fn error(path: String, code: &str, message: String) -> FieldError {
    FieldError {
        path,
        code: code.into(),
        message,
    }
}

/// A config value as text, checked against its declared type.
fn text(field: &ConfigField, value: &Value, path: &str) -> Result<String, FieldError> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if field.kind == ConfigType::Integer => n.to_string(),
        Value::Bool(b) if field.kind == ConfigType::Boolean => b.to_string(),
        _ => {
            return Err(error(
                path.into(),
                "invalid_type",
                format!("`{}` must be a string", field.name),
            ));
        }
    };
    let ok = match field.kind {
        ConfigType::Text => true,
        ConfigType::Url => {
            url::Url::parse(&text).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        }
        ConfigType::Integer => text.parse::<i64>().is_ok(),
        ConfigType::Boolean => matches!(text.as_str(), "true" | "false"),
        // Checked in depth by `private_key`.
        ConfigType::PrivateKey => !text.trim().is_empty(),
    };
    if !ok {
        let expected = match field.kind {
            ConfigType::Text => "text",
            ConfigType::Url => "an http or https URL",
            ConfigType::Integer => "a whole number",
            ConfigType::Boolean => "true or false",
            ConfigType::PrivateKey => "a PEM private key or \"platform\"",
        };
        return Err(error(
            path.into(),
            "invalid_value",
            format!("`{}` must be {expected}", field.name),
        ));
    }
    Ok(text)
}

/// Why `value` cannot be `field`'s value, as text (`None`: it can).
pub(super) fn value_problem(field: &ConfigField, value: &str) -> Option<String> {
    text(field, &Value::String(value.into()), "")
        .err()
        .map(|e| e.message)
}

/// A private key as stored, and the JWT algorithm it signs with. `platform`
/// stands for the host's platform key, whose kind is `platform`; a PEM key
/// is checked as NetSuite would check it and stored as PKCS#8.
fn private_key(
    text: &str,
    path: &str,
    platform: Option<KeyKind>,
) -> Result<(String, &'static str), FieldError> {
    if text.trim() == "platform" {
        return match platform {
            Some(kind) => Ok((PLATFORM_KEY.to_string(), kind.algorithm())),
            None => Err(error(
                path.into(),
                "no_platform_certificate",
                "this host has no platform certificate".into(),
            )),
        };
    }
    let key =
        parse_private_key(text).map_err(|e| error(path.into(), "key_refused", e.to_string()))?;
    Ok((key.pkcs8_pem, key.kind.algorithm()))
}

/// Checks `config` (public values) and `credentials` (secret values) against
/// the manifest's fields: every required field present, in the right one of
/// the two objects, of the right type; nothing unknown. Answers the public
/// values and the secrets, or every problem at once.
///
/// For each private key `k`, the public values gain `k.algorithm`: the JWS
/// algorithm it signs with (`PS256`, `ES256`, `ES384`), for the adapter to
/// ask for. `platform` is the kind of the host's platform key, if any.
///
/// # Errors
///
/// A [`ConfigError`] with every problem, each a [`FieldError`] at its path:
/// `required`, `misplaced` (in the other object), `invalid_type`,
/// `invalid_value`, `unknown_field`, `key_refused` (a private key that does
/// not parse, or is refused) or `no_platform_certificate` (a private key
/// `platform` where `platform` is `None`).
pub fn split_config(
    fields: &[ConfigField],
    config: &Map<String, Value>,
    credentials: &Map<String, Value>,
    platform: Option<KeyKind>,
) -> Result<(ConfigValues, ConfigValues), ConfigError> {
    let mut errors = Vec::new();
    let mut public = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    for field in fields {
        let (home, other, home_name, other_name) = if field.secret {
            (credentials, config, "credentials", "config")
        } else {
            (config, credentials, "config", "credentials")
        };
        if other.contains_key(&field.name) {
            errors.push(error(
                format!("/{other_name}/{}", field.name),
                "misplaced",
                format!("`{}` belongs in `{home_name}`", field.name),
            ));
            continue;
        }
        let path = format!("/{home_name}/{}", field.name);
        match home.get(&field.name) {
            None | Some(Value::Null) if field.required => errors.push(error(
                path,
                "required",
                format!("`{}` is required: {}", field.name, field.description),
            )),
            None | Some(Value::Null) => {}
            Some(value) => match text(field, value, &path) {
                Ok(text) if field.kind == ConfigType::PrivateKey => {
                    match private_key(&text, &path, platform) {
                        Ok((stored, algorithm)) => {
                            secrets.insert(field.name.clone(), stored);
                            public.insert(format!("{}.algorithm", field.name), algorithm.into());
                        }
                        Err(e) => errors.push(e),
                    }
                }
                Ok(text) if field.secret => {
                    secrets.insert(field.name.clone(), text);
                }
                Ok(text) => {
                    public.insert(field.name.clone(), text);
                }
                Err(e) => errors.push(e),
            },
        }
    }
    for (object, name) in [(config, "config"), (credentials, "credentials")] {
        for key in object
            .keys()
            .filter(|k| !fields.iter().any(|f| &f.name == *k))
        {
            errors.push(error(
                format!("/{name}/{key}"),
                "unknown_field",
                format!("the adapter has no config field `{key}`"),
            ));
        }
    }
    if errors.is_empty() {
        Ok((public, secrets))
    } else {
        Err(ConfigError(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> Vec<ConfigField> {
        let field = ConfigField::sample;
        vec![
            field("base_url", ConfigType::Url, false, true),
            field("page_size", ConfigType::Integer, false, false),
            field("api_key", ConfigType::Text, true, true),
        ]
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn splits_public_values_from_secrets() {
        let (public, secrets) = split_config(
            &fields(),
            &obj(json!({"base_url": "http://127.0.0.1:1", "page_size": 20})),
            &obj(json!({"api_key": "k"})),
            None,
        )
        .unwrap();
        assert_eq!(public["page_size"], "20");
        assert_eq!(secrets["api_key"], "k");
        assert!(!public.contains_key("api_key"));
    }

    #[test]
    fn reports_every_problem_at_once() {
        let ConfigError(errors) = split_config(
            &fields(),
            &obj(json!({"base_url": "ftp://x", "api_key": "k", "extra": 1})),
            &obj(json!({})),
            None,
        )
        .unwrap_err();
        let codes: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.path.as_str(), e.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            [
                ("/config/base_url", "invalid_value"),
                ("/config/api_key", "misplaced"),
                ("/config/extra", "unknown_field")
            ]
        );
        let ConfigError(errors) =
            split_config(&fields(), &obj(json!({})), &obj(json!({})), None).unwrap_err();
        assert_eq!(errors.iter().filter(|e| e.code == "required").count(), 2);
    }

    #[test]
    fn private_keys_are_checked_and_say_how_they_sign() {
        let mut fields = fields();
        fields.push(ConfigField::sample(
            "private_key",
            ConfigType::PrivateKey,
            true,
            true,
        ));
        let config = obj(json!({"base_url": "http://127.0.0.1:1"}));
        let credentials = |key: &str| obj(json!({"api_key": "k", "private_key": key}));

        let (public, secrets) = split_config(
            &fields,
            &config,
            &credentials("platform"),
            Some(KeyKind::P256),
        )
        .unwrap();
        assert_eq!(public["private_key.algorithm"], "ES256");
        assert_eq!(secrets["private_key"], PLATFORM_KEY);

        let ConfigError(errors) =
            split_config(&fields, &config, &credentials("platform"), None).unwrap_err();
        assert_eq!(errors[0].code, "no_platform_certificate");

        let ConfigError(errors) =
            split_config(&fields, &config, &credentials("not a key"), None).unwrap_err();
        assert_eq!(
            (errors[0].path.as_str(), errors[0].code.as_str()),
            ("/credentials/private_key", "key_refused")
        );
    }
}
