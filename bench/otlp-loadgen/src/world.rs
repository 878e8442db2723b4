//! The simulated system: services, their instances and their fixed
//! vocabulary of operations.
//!
//! Everything with low cardinality in real telemetry (service names, span
//! names, routes, statements, resources) is decided once here, so that the
//! per-span generator only picks indices. Resource and scope messages never
//! change, so they are pre-encoded once and copied into every batch.

use crate::pb::PbWriter;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Pods per service; spans are spread over them so a batch carries
/// `services × INSTANCES` distinct resources, as a collector gateway would.
pub const INSTANCES: usize = 3;
/// Kubernetes nodes the pods are scheduled on (`host.name`).
const NODES: usize = 5;

const SERVICE_NAMES: &[&str] = &[
    "frontend",
    "checkout",
    "cart",
    "payment",
    "shipping",
    "email",
    "currency",
    "recommendation",
    "ad",
    "product-catalog",
    "quote",
    "fraud-detection",
    "accounting",
    "inventory",
    "auth",
    "search",
    "notification",
    "pricing",
    "user-profile",
    "gateway",
];

const NAMESPACES: &[&str] = &["shop", "payments", "platform"];

/// (telemetry.sdk.language, telemetry.sdk.version, instrumentation scope, scope version)
const SDKS: &[(&str, &str, &str, &str)] = &[
    (
        "go",
        "1.32.0",
        "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
        "0.57.0",
    ),
    (
        "java",
        "1.44.1",
        "io.opentelemetry.spring-webmvc-6.0",
        "2.10.0-alpha",
    ),
    (
        "python",
        "1.29.0",
        "opentelemetry.instrumentation.flask",
        "0.50b0",
    ),
    (
        "nodejs",
        "1.28.0",
        "@opentelemetry/instrumentation-http",
        "0.55.0",
    ),
    (
        "dotnet",
        "1.10.0",
        "OpenTelemetry.Instrumentation.AspNetCore",
        "1.10.1",
    ),
    ("rust", "0.27.1", "tracing-opentelemetry", "0.28.0"),
];

const HTTP_ROUTES: &[(&str, &str)] = &[
    ("GET", ""),
    ("GET", "/{id}"),
    ("POST", ""),
    ("PUT", "/{id}"),
    ("DELETE", "/{id}"),
    ("GET", "/search"),
];

const RPC_METHODS: &[&str] = &["Get", "List", "Create", "Update", "Delete"];

const INTERNAL_OPS: &[&str] = &[
    "validate_request",
    "authorize",
    "load_config",
    "cache.lookup",
    "compute_total",
    "apply_discounts",
    "build_query",
    "parse_payload",
    "render_template",
    "serialize_response",
    "enrich_context",
    "resolve_dependencies",
];

const DB_SYSTEMS: &[&str] = &["postgresql", "mysql", "redis", "mongodb"];

/// One operation a service exposes; SERVER spans use it on the callee and
/// CLIENT spans on the caller so both sides of a call agree.
pub struct ServerOp {
    /// Span name: `GET /api/cart/{id}` or `cart.CartService/Get`.
    pub name: String,
    pub method: &'static str,
    /// `http.route` (empty for gRPC).
    pub route: String,
    /// `url.path` without the trailing id (the generator appends one).
    pub path_prefix: String,
    pub path_has_id: bool,
    /// `rpc.service` / `rpc.method` (empty for HTTP).
    pub rpc_service: String,
    pub rpc_method: &'static str,
}

pub struct DbOp {
    pub name: String,
    pub operation: &'static str,
    pub statement: String,
}

pub struct Topic {
    pub name: String,
    pub publish_name: String,
    pub process_name: String,
}

pub struct Service {
    pub name: String,
    pub host: String,
    pub grpc: bool,
    pub server_ops: Vec<ServerOp>,
    pub internal_ops: Vec<&'static str>,
    pub code_namespace: String,
    pub db_system: &'static str,
    pub db_name: String,
    pub db_host: String,
    pub db_ops: Vec<DbOp>,
    pub topics: Vec<Topic>,
}

pub struct World {
    pub services: Vec<Service>,
    /// Pre-encoded `Resource` message bodies, indexed `service * INSTANCES + instance`.
    pub resources: Vec<Vec<u8>>,
    /// Pre-encoded `InstrumentationScope` message bodies, per service.
    pub scopes: Vec<Vec<u8>>,
}

impl World {
    /// Builds the same world for the same `(services, seed)`, so repeated runs
    /// produce the same cardinality.
    pub fn new(n_services: usize, seed: u64) -> World {
        let n_services = n_services.max(2); // calls need a peer service
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed_0f1d);
        let services: Vec<Service> = (0..n_services).map(|i| make_service(i, &mut rng)).collect();
        let mut resources = Vec::with_capacity(n_services * INSTANCES);
        for (i, svc) in services.iter().enumerate() {
            for inst in 0..INSTANCES {
                resources.push(encode_resource(i, svc, inst, &mut rng));
            }
        }
        let scopes = (0..n_services).map(encode_scope).collect();
        World {
            services,
            resources,
            scopes,
        }
    }
}

fn service_name(i: usize) -> String {
    match SERVICE_NAMES.get(i) {
        Some(n) => (*n).to_string(),
        None => format!("service-{i}"),
    }
}

fn camel(name: &str) -> String {
    name.split('-')
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn make_service(i: usize, rng: &mut SmallRng) -> Service {
    let name = service_name(i);
    let ns = NAMESPACES[i % NAMESPACES.len()];
    // Every third service speaks gRPC; the rest HTTP (the root is often HTTP).
    let grpc = i % 3 == 2;
    let db_system = DB_SYSTEMS[i % DB_SYSTEMS.len()];
    let snake = name.replace('-', "_");
    Service {
        host: format!("{name}.{ns}.svc.cluster.local"),
        grpc,
        server_ops: make_server_ops(&name, grpc, rng),
        internal_ops: pick(INTERNAL_OPS, 5, rng),
        code_namespace: format!("com.example.{snake}.Handler"),
        db_system,
        db_name: format!("{snake}_db"),
        db_host: format!("{db_system}-{snake}.{ns}.svc.cluster.local"),
        db_ops: make_db_ops(db_system, &snake),
        topics: vec![Topic {
            name: format!("{name}-events"),
            publish_name: format!("{name}-events publish"),
            process_name: format!("{name}-events process"),
        }],
        name,
    }
}

/// `k` distinct entries of `pool`, in a seed-dependent order.
fn pick<T: Copy>(pool: &[T], k: usize, rng: &mut SmallRng) -> Vec<T> {
    let mut v = pool.to_vec();
    for i in (1..v.len()).rev() {
        v.swap(i, rng.random_range(0..=i));
    }
    v.truncate(k);
    v
}

fn make_server_ops(name: &str, grpc: bool, rng: &mut SmallRng) -> Vec<ServerOp> {
    if grpc {
        let svc = format!("{}.{}Service", name.replace('-', "_"), camel(name));
        return RPC_METHODS
            .iter()
            .map(|m| ServerOp {
                name: format!("{svc}/{m}"),
                method: "POST",
                route: String::new(),
                path_prefix: String::new(),
                path_has_id: false,
                rpc_service: svc.clone(),
                rpc_method: m,
            })
            .collect();
    }
    pick(HTTP_ROUTES, 4 + rng.random_range(0..=2), rng)
        .into_iter()
        .map(|(method, suffix)| {
            let route = format!("/api/{name}{suffix}");
            let has_id = suffix.ends_with("{id}");
            ServerOp {
                name: format!("{method} {route}"),
                method,
                path_prefix: if has_id {
                    format!("/api/{name}/")
                } else {
                    route.clone()
                },
                route,
                path_has_id: has_id,
                rpc_service: String::new(),
                rpc_method: "",
            }
        })
        .collect()
}

fn make_db_ops(system: &'static str, snake: &str) -> Vec<DbOp> {
    let t = format!("{snake}_items");
    let op = |operation: &'static str, name: String, statement: String| DbOp {
        name,
        operation,
        statement,
    };
    match system {
        "redis" => vec![
            op("GET", "GET".into(), format!("GET {snake}:?")),
            op("SET", "SET".into(), format!("SET {snake}:? ? EX 300")),
            op("HGETALL", "HGETALL".into(), format!("HGETALL {snake}:session:?")),
        ],
        "mongodb" => vec![
            op("find", format!("find {t}"), format!("{{\"find\":\"{t}\",\"filter\":{{\"_id\":\"?\"}}}}")),
            op("insert", format!("insert {t}"), format!("{{\"insert\":\"{t}\",\"documents\":\"?\"}}")),
            op("update", format!("update {t}"), format!("{{\"update\":\"{t}\",\"updates\":\"?\"}}")),
        ],
        _ => vec![
            op("SELECT", format!("SELECT {t}"), format!("SELECT id, payload, updated_at FROM {t} WHERE id = $1")),
            op("INSERT", format!("INSERT {t}"), format!("INSERT INTO {t} (id, payload) VALUES ($1, $2)")),
            op("UPDATE", format!("UPDATE {t}"), format!("UPDATE {t} SET payload = $2, updated_at = now() WHERE id = $1")),
            op("SELECT", "SELECT orders".into(), "SELECT o.id, o.total FROM orders o JOIN users u ON u.id = o.user_id WHERE u.id = $1 LIMIT 50".into()),
        ],
    }
}

fn random_hex(rng: &mut SmallRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}

fn encode_resource(i: usize, svc: &Service, inst: usize, rng: &mut SmallRng) -> Vec<u8> {
    let (lang, sdk_version, _, _) = SDKS[i % SDKS.len()];
    let ns = NAMESPACES[i % NAMESPACES.len()];
    let uuid = {
        let h = random_hex(rng, 32);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    };
    let pod = format!(
        "{}-{}-{}",
        svc.name,
        random_hex(rng, 10),
        random_hex(rng, 5)
    );
    let node = format!(
        "ip-10-0-{}-{}.ec2.internal",
        (i + inst) % NODES,
        10 + (i * 7 + inst) % NODES
    );
    let mut w = PbWriter::default();
    w.kv_str(1, "service.name", &svc.name);
    w.kv_str(1, "service.namespace", ns);
    w.kv_str(1, "service.version", "1.4.2");
    w.kv_str(1, "service.instance.id", &uuid);
    w.kv_str(1, "host.name", &node);
    w.kv_str(1, "k8s.pod.name", &pod);
    w.kv_str(1, "k8s.namespace.name", ns);
    w.kv_str(1, "deployment.environment.name", "production");
    w.kv_str(1, "telemetry.sdk.language", lang);
    w.kv_str(1, "telemetry.sdk.name", "opentelemetry");
    w.kv_str(1, "telemetry.sdk.version", sdk_version);
    w.buf
}

fn encode_scope(i: usize) -> Vec<u8> {
    let (_, _, scope, version) = SDKS[i % SDKS.len()];
    let mut w = PbWriter::default();
    w.string(1, scope);
    w.string(2, version);
    w.buf
}
