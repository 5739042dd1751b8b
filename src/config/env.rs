//! `${VAR}` and `${VAR:-default}` interpolation in configuration string values.
//!
//! Interpolation runs on parsed string values, never on the raw text, so comments may mention
//! `${VAR}` freely and error positions stay exact. `$$` writes a literal `$`.

use toml::Value;

use super::locate::KeyPath;

/// Expands every string in `value`; each failure is collected with the key that holds it (the
/// string is then left as written).
pub fn interpolate(
    value: &mut Value,
    path: &KeyPath,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<(KeyPath, String)>,
) {
    match value {
        Value::String(text) if text.contains('$') => match expand(text, lookup) {
            Ok(expanded) => *text = expanded,
            Err(message) => errors.push((path.clone(), message)),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate(item, &path.index(i), lookup, errors);
            }
        }
        Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                interpolate(item, &path.key(key), lookup, errors);
            }
        }
        _ => {}
    }
}

/// Expands one string.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let close = body
                .find('}')
                .ok_or_else(|| format!("unterminated ${{...}} in {text:?}"))?;
            let expr = &body[..close];
            let (name, default) = match expr.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (expr, None),
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!("invalid variable name {name:?} in {text:?}"));
            }
            match (lookup(name).filter(|v| !v.is_empty()), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    return Err(format!(
                        "environment variable {name} is not set (set it, or write ${{{name}:-default}})"
                    ));
                }
            }
            rest = &body[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "FIXTURES_BASE" => Some("http://127.0.0.1:9".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables_and_defaults() {
        assert_eq!(
            expand("${FIXTURES_BASE}/phucloi", &env).unwrap(),
            "http://127.0.0.1:9/phucloi"
        );
        assert_eq!(expand("${NOPE:-/var/lib/x}", &env).unwrap(), "/var/lib/x");
        assert_eq!(expand("${EMPTY:-d}", &env).unwrap(), "d");
        assert_eq!(
            expand("cost $5 and $$HOME", &env).unwrap(),
            "cost $5 and $HOME"
        );
    }

    #[test]
    fn reports_unset_and_malformed_variables() {
        assert!(
            expand("${NOPE}", &env)
                .unwrap_err()
                .contains("NOPE is not set")
        );
        assert!(expand("${OPEN", &env).unwrap_err().contains("unterminated"));
        assert!(
            expand("${bad name}", &env)
                .unwrap_err()
                .contains("invalid variable")
        );
    }
}
