//! The Prometheus response envelope, errors with their HTTP codes, and buildinfo.
//!
//! Key order follows Prometheus' `response` struct: `status`, `data`, `errorType`, `error`,
//! `warnings`, `infos`; empty fields are omitted (`omitempty`).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::encode::write_json_str;

/// Prometheus' `errorType` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    Timeout,
    Canceled,
    Execution,
    BadData,
    Internal,
    Unavailable,
    NotFound,
    NotAcceptable,
}

impl ErrorType {
    /// The wire name (`bad_data`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Canceled => "canceled",
            Self::Execution => "execution",
            Self::BadData => "bad_data",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::NotFound => "not_found",
            Self::NotAcceptable => "not_acceptable",
        }
    }

    /// The HTTP code Prometheus' `respondError` uses. `unavailable` is not in its switch,
    /// so it falls to the default 500.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadData => StatusCode::BAD_REQUEST,
            Self::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Canceled => StatusCode::from_u16(499).expect("499 is a valid status code"),
            Self::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal | Self::Unavailable => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        }
    }
}

/// An API error: `{"status":"error","errorType":"...","error":"..."}` with its HTTP code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromError {
    pub kind: ErrorType,
    pub message: String,
}

impl PromError {
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        let mut out = String::with_capacity(64 + self.message.len());
        out.push_str(r#"{"status":"error","errorType":"#);
        write_json_str(&mut out, self.kind.as_str());
        out.push_str(r#","error":"#);
        write_json_str(&mut out, &self.message);
        out.push('}');
        out
    }
}

impl std::fmt::Display for PromError {
    /// As Prometheus' `apiError.Error()`: `<errorType>: <error>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for PromError {}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        json_response(self.kind.status(), self.body())
    }
}

/// A success envelope around already-encoded `data` JSON (from the `encode_*` functions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PromSuccess {
    /// Raw JSON of `data`.
    pub data: String,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl PromSuccess {
    pub fn new(data: String) -> Self {
        Self {
            data,
            ..Self::default()
        }
    }

    /// Serializes `data` with serde (for small payloads such as label lists).
    pub fn from_serialize<T: Serialize>(data: &T) -> Result<Self, PromError> {
        serde_json::to_string(data)
            .map(Self::new)
            .map_err(|e| PromError::new(ErrorType::Internal, e.to_string()))
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        success_body(&self.data, &self.warnings, &self.infos)
    }
}

impl IntoResponse for PromSuccess {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, self.body())
    }
}

/// `{"status":"success","data":<data>[,"warnings":[..]][,"infos":[..]]}`.
pub fn success_body(data_json: &str, warnings: &[String], infos: &[String]) -> String {
    let mut out = String::with_capacity(32 + data_json.len());
    out.push_str(r#"{"status":"success","data":"#);
    out.push_str(data_json);
    for (key, list) in [("warnings", warnings), ("infos", infos)] {
        if list.is_empty() {
            continue;
        }
        out.push_str(",\"");
        out.push_str(key);
        out.push_str("\":[");
        for (i, w) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json_str(&mut out, w);
        }
        out.push(']');
    }
    out.push('}');
    out
}

/// A JSON response with Prometheus' `Content-Type: application/json`.
pub fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Prometheus' `PrometheusVersion`: deliberately no `features` key, so Grafana classifies
/// the backend as Prometheus (not Mimir) and does not probe a ruler API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_user: String,
    pub build_date: String,
    pub go_version: String,
}

impl BuildInfo {
    /// This binary's build information.
    pub fn current() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_string(),
            revision: option_env!("WEFT_GIT_REVISION")
                .unwrap_or("unknown")
                .to_string(),
            branch: "main".to_string(),
            build_user: String::new(),
            build_date: String::new(),
            go_version: String::new(),
        }
    }
}

/// `GET /api/v1/status/buildinfo`.
pub async fn buildinfo() -> Response {
    match PromSuccess::from_serialize(&BuildInfo::current()) {
        Ok(ok) => ok.into_response(),
        Err(err) => err.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes() {
        let cases = [
            (ErrorType::BadData, "bad_data", 400),
            (ErrorType::Execution, "execution", 422),
            (ErrorType::Canceled, "canceled", 499),
            (ErrorType::Timeout, "timeout", 503),
            (ErrorType::Internal, "internal", 500),
            (ErrorType::NotFound, "not_found", 404),
            (ErrorType::NotAcceptable, "not_acceptable", 406),
            (ErrorType::Unavailable, "unavailable", 500),
        ];
        for (kind, name, code) in cases {
            assert_eq!(kind.as_str(), name);
            assert_eq!(kind.status().as_u16(), code, "{name}");
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
        }
    }

    #[test]
    fn error_body() {
        let e = PromError::new(ErrorType::BadData, "invalid parameter \"end\": x<y");
        assert_eq!(
            e.body(),
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"end\": x\u003cy"}"#
        );
        assert_eq!(e.to_string(), "bad_data: invalid parameter \"end\": x<y");
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
    }

    #[test]
    fn success_envelope() {
        assert_eq!(
            success_body("[]", &[], &[]),
            r#"{"status":"success","data":[]}"#
        );
        assert_eq!(
            success_body(
                r#"{"resultType":"scalar","result":[4,"2"]}"#,
                &["w1".into(), "w\"2".into()],
                &["i1".into()]
            ),
            r#"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]},"warnings":["w1","w\"2"],"infos":["i1"]}"#
        );
        let ok = PromSuccess::from_serialize(&vec!["__name__", "job"]).unwrap();
        assert_eq!(
            ok.body(),
            r#"{"status":"success","data":["__name__","job"]}"#
        );
        assert_eq!(ok.into_response().status(), StatusCode::OK);
    }

    #[test]
    fn buildinfo_shape() {
        let ok = PromSuccess::from_serialize(&BuildInfo::current()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&ok.body()).unwrap();
        assert_eq!(v["status"], "success");
        let data = v["data"].as_object().unwrap();
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        let mut want = vec![
            "branch",
            "buildDate",
            "buildUser",
            "goVersion",
            "revision",
            "version",
        ];
        want.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, want);
        assert!(data.get("features").is_none());
        assert_eq!(data["version"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn buildinfo_routes() {
        let _: axum::Router =
            axum::Router::new().route("/api/v1/status/buildinfo", axum::routing::get(buildinfo));
    }

    #[tokio::test]
    async fn buildinfo_handler() {
        let resp = buildinfo().await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
    }
}
