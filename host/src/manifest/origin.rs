//! Outbound host templates: the origins an adapter declares over its
//! connection config (`https://{account_id}.suitetalk.api.netsuite.com`,
//! `{base_url}`), parsed once at load and rendered per connection into exact
//! origins (scheme, host and port).

use std::collections::BTreeMap;

use url::{Origin, Url};

use super::{ConfigField, ConfigType};

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Placeholder(String),
}

/// A parsed `outbound-hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginTemplate {
    parts: Vec<Part>,
}

fn is_label(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// An absolute http(s) URL without credentials.
fn http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{text}` is not an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("`{text}` carries credentials"));
    }
    Ok(url)
}

impl OriginTemplate {
    /// Parses `template`; every `{name}` must be a non-secret config field.
    ///
    /// # Errors
    ///
    /// A message saying why: a `{` is not closed, a placeholder names no
    /// config field or a secret one, or the template (with a stand-in value
    /// for each placeholder) is not an http or https origin without a path
    /// or credentials.
    pub fn parse(template: &str, config: &[ConfigField]) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let end = rest[start..].find('}').ok_or("an unclosed `{`")? + start;
            let name = &rest[start + 1..end];
            match config.iter().find(|c| c.name == name) {
                Some(field) if !field.secret && field.kind != ConfigType::PrivateKey => {}
                Some(_) => return Err(format!("`{{{name}}}` is a secret config field")),
                None => return Err(format!("`{{{name}}}` is not a config field")),
            }
            parts.push(Part::Placeholder(name.to_string()));
            rest = &rest[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        let template = OriginTemplate { parts };
        if !template.is_whole_placeholder() {
            // Check the shape with a stand-in value for every placeholder.
            let sample: BTreeMap<String, String> = template
                .placeholders()
                .map(|p| (p.to_string(), "x".to_string()))
                .collect();
            template.render(&sample)?;
        }
        Ok(template)
    }

    /// The config fields the template is made of.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Placeholder(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Whether the origin comes from the connection's config (the template
    /// has a placeholder), rather than being fixed by the adapter. Only such
    /// origins receive the connection's secrets.
    pub fn is_connections_own(&self) -> bool {
        self.placeholders().next().is_some()
    }

    fn is_whole_placeholder(&self) -> bool {
        matches!(self.parts.as_slice(), [Part::Placeholder(_)])
    }

    /// The origin this template allows for a connection's `config`.
    ///
    /// A template that is one placeholder (`{base_url}`) takes the origin of
    /// the URL the connection supplies. Inside a larger template a value may
    /// only be a host label (letters, digits, `-`, `_`), so that no value can
    /// move the request to another host (`evil.example#`).
    ///
    /// # Errors
    ///
    /// As [`render_with_base`](Self::render_with_base).
    pub fn render(&self, config: &BTreeMap<String, String>) -> Result<Origin, String> {
        self.render_with_base(config).map(|(origin, _)| origin)
    }

    /// The origin, as [`render`](Self::render) answers it, and the base
    /// path requests to it stay under in a passthrough call: the path of
    /// the connection's URL for a template that is one placeholder
    /// (`https://erp.example/api/` gives `/api`), none (`""`) otherwise.
    ///
    /// # Errors
    ///
    /// A message saying why: `config` has no value for a placeholder; a
    /// whole-placeholder value is not an http or https URL without
    /// credentials; a value inside a larger template is not a host label;
    /// or the rendered text is not an http or https origin without a path
    /// or credentials.
    pub fn render_with_base(
        &self,
        config: &BTreeMap<String, String>,
    ) -> Result<(Origin, String), String> {
        let value = |name: &str| {
            config
                .get(name)
                .ok_or_else(|| format!("the connection has no `{name}` config value"))
        };
        if let [Part::Placeholder(name)] = self.parts.as_slice() {
            let url = http_url(value(name)?)?;
            let base = url.path().trim_end_matches('/').to_string();
            return Ok((url.origin(), base));
        }
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(literal) => text.push_str(literal),
                Part::Placeholder(name) => {
                    let v = value(name)?;
                    if !is_label(v) {
                        return Err(format!(
                            "config value `{name}` may only hold letters, digits, `-` and `_`"
                        ));
                    }
                    text.push_str(v);
                }
            }
        }
        let url = Url::parse(&text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "`{text}` must be an origin (scheme://host[:port]) without a path"
            ));
        }
        Ok((http_url(&text)?.origin(), String::new()))
    }
}
