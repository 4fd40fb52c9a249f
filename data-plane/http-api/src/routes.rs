//! The route table, read from the `google.api.http` annotations of the
//! services' descriptors (never written by hand), and the matching of a
//! request's method and path against it.
use std::sync::Arc;

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value};

/// The services whose annotated methods the HTTP API serves, as the real
/// server's gateway registers them.
const SERVICES: &[&str] = &[
    "temporal.api.workflowservice.v1.WorkflowService",
    "temporal.api.operatorservice.v1.OperatorService",
];

/// One RPC the HTTP API can call.
#[derive(Debug)]
pub struct Rpc {
    /// `WorkflowService/StartWorkflowExecution`-style name, for logs.
    pub name: String,
    /// The gRPC path the call is dispatched to.
    pub grpc_path: String,
    pub input: MessageDescriptor,
    pub output: MessageDescriptor,
}

/// Where the request message comes from besides the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// `body: "*"`: the whole JSON body is the request message.
    Whole,
    /// `body: "field"`: the JSON body is that field; the query string the rest.
    Field(String),
    /// No body: the query string fills the message.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// A path variable: the request field (dotted path) it sets.
    Variable(Vec<String>),
    /// `{field=**}`: the rest of the path, slashes included.
    Rest(Vec<String>),
}

#[derive(Debug)]
pub struct Route {
    pub method: http::Method,
    pub template: String,
    segments: Vec<Segment>,
    pub body: Body,
    pub rpc: Arc<Rpc>,
}

/// A request matched to its route, with its path variables (decoded).
pub struct Matched<'a> {
    pub route: &'a Route,
    pub variables: Vec<(&'a [String], String)>,
}

/// Why no route answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// No template matches the path.
    NotFound,
    /// A template matches the path, with another method.
    MethodNotAllowed,
    /// The path is not valid percent-encoded UTF-8.
    BadPath,
}

pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    /// Every annotated method of [`SERVICES`], with its additional bindings.
    pub fn from_pool(pool: &DescriptorPool) -> Result<Self, String> {
        let http = pool
            .get_extension_by_name("google.api.http")
            .ok_or("the descriptors lack google.api.http")?;
        let mut routes = Vec::new();
        for service_name in SERVICES {
            let service = pool
                .get_service_by_name(service_name)
                .ok_or_else(|| format!("the descriptors lack {service_name}"))?;
            for method in service.methods() {
                let options = method.options();
                if !options.has_extension(&http) {
                    continue;
                }
                let rpc = Arc::new(Rpc {
                    name: format!("{}/{}", service.name(), method.name()),
                    grpc_path: format!("/{}/{}", service.full_name(), method.name()),
                    input: method.input(),
                    output: method.output(),
                });
                let Value::Message(rule) = options.get_extension(&http).into_owned() else {
                    continue;
                };
                add_rule(&mut routes, &rule, &rpc)?;
                if let Some(Value::List(more)) =
                    rule.get_field_by_name("additional_bindings").as_deref()
                {
                    for binding in more {
                        if let Value::Message(binding) = binding {
                            add_rule(&mut routes, binding, &rpc)?;
                        }
                    }
                }
            }
        }
        Ok(Self { routes })
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    /// The route for `method` and `path` (percent-encoded, as received).
    /// The path is decoded before it is split, as the real server's
    /// gateway does: an id holding `%2F` is two segments there too.
    /// Where several templates match, the one with the most literal segments
    /// wins, so `/workflows/{id}/history` is never taken for a variable.
    pub fn find<'a>(&'a self, method: &http::Method, path: &str) -> Result<Matched<'a>, Miss> {
        let decoded = percent_decode(path).ok_or(Miss::BadPath)?;
        let parts: Vec<&str> = decoded
            .strip_prefix('/')
            .unwrap_or(&decoded)
            .split('/')
            .collect();
        let mut best: Option<(usize, Matched<'a>)> = None;
        let mut other_method = false;
        for route in &self.routes {
            let Some(variables) = route.matches(&parts) else {
                continue;
            };
            if route.method != *method {
                other_method = true;
                continue;
            }
            let literals = route
                .segments
                .iter()
                .filter(|s| matches!(s, Segment::Literal(_)))
                .count();
            if best.as_ref().is_none_or(|(n, _)| literals > *n) {
                best = Some((literals, Matched { route, variables }));
            }
        }
        match best {
            Some((_, matched)) => Ok(matched),
            None if other_method => Err(Miss::MethodNotAllowed),
            None => Err(Miss::NotFound),
        }
    }
}

impl Route {
    fn matches<'a>(&'a self, parts: &[&str]) -> Option<Vec<(&'a [String], String)>> {
        let mut variables = Vec::new();
        let mut at = 0;
        for segment in &self.segments {
            match segment {
                Segment::Literal(literal) => {
                    if parts.get(at) != Some(&literal.as_str()) {
                        return None;
                    }
                    at += 1;
                }
                Segment::Variable(field) => {
                    let part = parts.get(at).filter(|p| !p.is_empty())?;
                    variables.push((field.as_slice(), (*part).to_string()));
                    at += 1;
                }
                Segment::Rest(field) => {
                    if at >= parts.len() {
                        return None;
                    }
                    variables.push((field.as_slice(), parts[at..].join("/")));
                    at = parts.len();
                }
            }
        }
        (at == parts.len()).then_some(variables)
    }
}

fn add_rule(routes: &mut Vec<Route>, rule: &DynamicMessage, rpc: &Arc<Rpc>) -> Result<(), String> {
    let text = |name: &str| match rule.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let (method, template) = [
        ("get", http::Method::GET),
        ("post", http::Method::POST),
        ("put", http::Method::PUT),
        ("delete", http::Method::DELETE),
        ("patch", http::Method::PATCH),
    ]
    .into_iter()
    .find_map(|(field, method)| text(field).map(|t| (method, t)))
    .ok_or_else(|| format!("{}: an HTTP rule without a pattern", rpc.name))?;
    let body = match text("body") {
        Some(b) if b == "*" => Body::Whole,
        Some(field) => Body::Field(field),
        None => Body::None,
    };
    routes.push(Route {
        method,
        segments: parse_template(&template)
            .map_err(|e| format!("{}: {template}: {e}", rpc.name))?,
        template,
        body,
        rpc: rpc.clone(),
    });
    Ok(())
}

/// `/api/v1/namespaces/{namespace}/workflows/{execution.workflow_id}` into
/// segments. `{field=*}` is a plain variable, `{field=**}` the rest of the
/// path; other sub-patterns are not used by Temporal's protos and refused.
fn parse_template(template: &str) -> Result<Vec<Segment>, String> {
    let path = template.strip_prefix('/').ok_or("not absolute")?;
    if path.contains(':') {
        return Err("custom verbs are not supported".into());
    }
    path.split('/')
        .map(
            |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                None if part.contains(['{', '}']) => Err(format!("bad segment {part}")),
                None => Ok(Segment::Literal(part.to_string())),
                Some(inner) => {
                    let (field, pattern) = inner.split_once('=').unwrap_or((inner, "*"));
                    let field: Vec<String> = field.split('.').map(str::to_string).collect();
                    match pattern {
                        "*" => Ok(Segment::Variable(field)),
                        "**" => Ok(Segment::Rest(field)),
                        other => Err(format!("unsupported sub-pattern {other}")),
                    }
                }
            },
        )
        .collect()
}

/// Percent-decodes one path segment; `None` when it is not UTF-8 or a
/// `%` is not followed by two hex digits.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Routes {
        let pool = DescriptorPool::decode(crate::DESCRIPTORS).unwrap();
        Routes::from_pool(&pool).unwrap()
    }

    #[test]
    fn every_annotated_method_is_routed_with_its_bindings() {
        let routes = routes();
        // Each annotated method has its /api/v1 binding and the bare one.
        let starts: Vec<_> = routes
            .iter()
            .filter(|r| r.rpc.name == "WorkflowService/StartWorkflowExecution")
            .map(|r| (r.method.as_str(), r.template.as_str()))
            .collect();
        assert!(starts.contains(&(
            "POST",
            "/api/v1/namespaces/{namespace}/workflows/{workflow_id}"
        )));
        assert!(starts.contains(&("POST", "/namespaces/{namespace}/workflows/{workflow_id}")));
        assert!(routes.len() > 150, "only {} routes", routes.len());
    }

    #[test]
    fn the_most_literal_template_wins_and_variables_are_decoded() {
        let routes = routes();
        let m = routes
            .find(
                &http::Method::GET,
                "/api/v1/namespaces/ns/workflows/a%3Ab%20c/history",
            )
            .unwrap();
        assert_eq!(
            m.route.rpc.name,
            "WorkflowService/GetWorkflowExecutionHistory"
        );
        let vars: Vec<_> = m
            .variables
            .iter()
            .map(|(f, v)| (f.join("."), v.clone()))
            .collect();
        assert_eq!(
            vars,
            vec![
                ("namespace".into(), "ns".into()),
                ("execution.workflow_id".into(), "a:b c".into())
            ]
        );
        let m = routes
            .find(&http::Method::GET, "/api/v1/namespaces/ns/workflows/wf")
            .unwrap();
        assert_eq!(
            m.route.rpc.name,
            "WorkflowService/DescribeWorkflowExecution"
        );
    }

    #[test]
    fn misses_say_whether_the_path_or_the_method_is_wrong() {
        let routes = routes();
        assert_eq!(
            routes.find(&http::Method::GET, "/api/v1/nowhere").err(),
            Some(Miss::NotFound)
        );
        assert_eq!(
            routes
                .find(&http::Method::PATCH, "/api/v1/namespaces/ns/workflows/wf")
                .err(),
            Some(Miss::MethodNotAllowed)
        );
        // Decoded before matching: a slash in an id is a segment more.
        assert_eq!(
            routes
                .find(&http::Method::GET, "/api/v1/namespaces/ns/workflows/a%2Fb")
                .err(),
            Some(Miss::NotFound)
        );
        assert_eq!(
            routes.find(&http::Method::GET, "/api/v1/%zz").err(),
            Some(Miss::BadPath)
        );
    }
}
