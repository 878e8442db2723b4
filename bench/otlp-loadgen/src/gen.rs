//! Trace generation: plan the shape of whole traces, then encode the batch
//! grouped by resource, straight to OTLP protobuf bytes.
//!
//! Planning and encoding are separate because OTLP groups spans by resource
//! (service instance) while traces cross services: a batch is planned trace by
//! trace, counting-sorted by resource, then written resource by resource.
//! All buffers live in [`Generator`] and are reused, so the steady state does
//! not allocate.

use crate::pb::PbWriter;
use crate::world::{Service, World, INSTANCES};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub const MIN_TRACE_SPANS: usize = 5;
pub const MAX_TRACE_SPANS: usize = 30;
const MIN_ATTRS: usize = 8;
const MAX_ATTRS: usize = 20;
const ERROR_PERCENT: u32 = 3;
const EVENT_PERCENT: u32 = 15;
const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.26.0";

// Field numbers used more than once (see opentelemetry/proto/trace/v1/trace.proto).
const RS_RESOURCE: u32 = 1;
const RS_SCOPE_SPANS: u32 = 2;
const RS_SCHEMA_URL: u32 = 3;
const SS_SCOPE: u32 = 1;
const SS_SPANS: u32 = 2;
const SPAN_ATTR: u32 = 9;
const EVENT_ATTR: u32 = 3;

/// What a span does; decides its kind, name and semantic attributes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    HttpServer,
    RpcServer,
    HttpClient,
    RpcClient,
    DbClient,
    Internal,
    Producer,
    Consumer,
}

impl Role {
    /// `opentelemetry.proto.trace.v1.Span.SpanKind`.
    fn kind(self) -> u64 {
        match self {
            Role::Internal => 1,
            Role::HttpServer | Role::RpcServer => 2,
            Role::HttpClient | Role::RpcClient | Role::DbClient => 3,
            Role::Producer => 4,
            Role::Consumer => 5,
        }
    }

    /// Database calls go to uninstrumented servers, so they are leaves.
    fn can_parent(self) -> bool {
        self != Role::DbClient
    }

    /// A client/producer span is the parent of exactly the one remote span
    /// it caused, never of several.
    fn single_child(self) -> bool {
        matches!(self, Role::HttpClient | Role::RpcClient | Role::Producer)
    }
}

/// The shape of one span, decided before any bytes are written.
#[derive(Clone, Copy)]
struct Planned {
    /// Index into `Generator::trace_ids`.
    trace: u32,
    span_id: [u8; 8],
    /// All zero for the root.
    parent_id: [u8; 8],
    start: u64,
    end: u64,
    service: u16,
    instance: u8,
    role: Role,
    /// Index into the vocabulary list that `role` selects.
    op: u8,
    /// Callee (clients, producers) or producing service (consumers).
    peer: u16,
    error: bool,
    event: bool,
}

impl Planned {
    fn resource(&self) -> usize {
        self.service as usize * INSTANCES + self.instance as usize
    }

    /// Decides the ~3% errors (which always carry an exception event) and
    /// the other spans' occasional events.
    fn with_flags(mut self, rng: &mut SmallRng) -> Planned {
        self.error = rng.random_ratio(ERROR_PERCENT, 100);
        self.event = self.error || rng.random_ratio(EVENT_PERCENT, 100);
        self
    }
}

pub struct Generator {
    world: Arc<World>,
    rng: SmallRng,
    plan: Vec<Planned>,
    /// Local indices (within the current trace) of spans that may get children.
    candidates: Vec<u16>,
    /// `plan` indices sorted by resource; `offsets[r]..offsets[r+1]` is resource `r`.
    order: Vec<u32>,
    offsets: Vec<u32>,
    trace_ids: Vec<[u8; 16]>,
    w: PbWriter,
}

impl Generator {
    pub fn new(world: Arc<World>, seed: u64) -> Generator {
        Generator {
            offsets: vec![0; world.resources.len() + 1],
            world,
            rng: SmallRng::seed_from_u64(seed),
            plan: Vec::new(),
            candidates: Vec::new(),
            order: Vec::new(),
            trace_ids: Vec::new(),
            w: PbWriter::default(),
        }
    }

    /// Generates exactly `spans` spans as whole traces and returns the encoded
    /// `ExportTraceServiceRequest`. Trace sizes are uniform in 5..=30 except
    /// the last trace of a batch, which is shrunk to fit so that `--batch-spans`
    /// and `--total-spans` are exact.
    pub fn next_batch(&mut self, spans: usize) -> &[u8] {
        self.plan.clear();
        self.trace_ids.clear();
        let now = now_unix_nanos();
        let mut left = spans;
        while left > 0 {
            let size = self
                .rng
                .random_range(MIN_TRACE_SPANS..=MAX_TRACE_SPANS)
                .min(left);
            self.plan_trace(size, now);
            left -= size;
        }
        self.sort_by_resource();
        self.encode();
        &self.w.buf
    }

    /// Trace IDs of the last batch, in generation order.
    pub fn trace_ids(&self) -> &[[u8; 16]] {
        &self.trace_ids
    }

    fn plan_trace(&mut self, size: usize, now: u64) {
        let trace = self.trace_ids.len() as u32;
        let mut id = [0u8; 16];
        self.rng.fill(&mut id[..]);
        id[0] |= 1; // all-zero trace IDs are invalid
        self.trace_ids.push(id);

        let base = self.plan.len();
        let root = self.root(trace, now);
        self.plan.push(root);
        self.candidates.clear();
        self.candidates.push(0);
        for local in 1..size {
            let ci = self.rng.random_range(0..self.candidates.len());
            let parent = self.plan[base + self.candidates[ci] as usize];
            if parent.role.single_child() {
                self.candidates.swap_remove(ci);
            }
            let child = self.child_of(&parent);
            if child.role.can_parent() {
                self.candidates.push(local as u16);
            }
            self.plan.push(child);
        }
    }

    fn root(&mut self, trace: u32, now: u64) -> Planned {
        let service = self.rng.random_range(0..self.world.services.len());
        let svc = &self.world.services[service];
        let (role, ops) = (server_role(svc), svc.server_ops.len());
        // Log-uniform 2 ms .. 1.5 s: most requests are fast, a few are slow.
        let dur = (self.rng.random_range(2e6f64.ln()..1.5e9f64.ln())).exp() as u64;
        let end = now - self.rng.random_range(0..100_000_000u64);
        Planned {
            trace,
            span_id: self.span_id(),
            parent_id: [0; 8],
            start: end - dur,
            end,
            service: service as u16,
            instance: self.rng.random_range(0..INSTANCES) as u8,
            role,
            op: self.rng.random_range(0..ops) as u8,
            peer: 0,
            error: false,
            event: false,
        }
        .with_flags(&mut self.rng)
    }

    fn child_of(&mut self, parent: &Planned) -> Planned {
        let mut c = Planned {
            span_id: self.span_id(),
            parent_id: parent.span_id,
            ..*parent
        };
        match parent.role {
            Role::HttpClient | Role::RpcClient => {
                // The callee's SERVER span for the same operation.
                c.service = parent.peer;
                c.instance = self.rng.random_range(0..INSTANCES) as u8;
                c.role = server_role(&self.world.services[c.service as usize]);
                (c.start, c.end) = self.remote_window(parent);
            }
            Role::Producer => {
                c.service = parent.peer;
                c.peer = parent.service;
                c.instance = self.rng.random_range(0..INSTANCES) as u8;
                c.role = Role::Consumer;
                (c.start, c.end) = self.remote_window(parent);
            }
            _ => self.local_child(parent, &mut c),
        }
        c.with_flags(&mut self.rng)
    }

    /// A span in the parent's process: a call out, a query, internal work or
    /// a published message.
    fn local_child(&mut self, parent: &Planned, c: &mut Planned) {
        let roll = self.rng.random_range(0..100u32);
        if roll < 30 {
            let peer = self.other_service(parent.service);
            let callee = &self.world.services[peer as usize];
            c.role = if callee.grpc {
                Role::RpcClient
            } else {
                Role::HttpClient
            };
            c.op = self.rng.random_range(0..callee.server_ops.len()) as u8;
            c.peer = peer;
        } else if roll < 50 {
            let svc = &self.world.services[parent.service as usize];
            c.role = Role::DbClient;
            c.op = self.rng.random_range(0..svc.db_ops.len()) as u8;
        } else if roll < 90 {
            let svc = &self.world.services[parent.service as usize];
            c.role = Role::Internal;
            c.op = self.rng.random_range(0..svc.internal_ops.len()) as u8;
        } else {
            // Publishes to the producer's own topic; `peer` is the consumer.
            c.role = Role::Producer;
            c.op = 0;
            c.peer = self.other_service(parent.service);
        }
        (c.start, c.end) = self.local_window(parent);
    }

    fn other_service(&mut self, not: u16) -> u16 {
        let n = self.world.services.len() as u16;
        (not + self.rng.random_range(1..n)) % n
    }

    /// Remote children start a little after and end a little before the
    /// client span (network and queueing time).
    fn remote_window(&mut self, p: &Planned) -> (u64, u64) {
        let d = (p.end - p.start) as f64;
        let a = (d * self.rng.random_range(0.01..0.08)) as u64;
        let b = (d * self.rng.random_range(0.01..0.08)) as u64;
        (p.start + a, (p.end - b).max(p.start + a))
    }

    /// Local children occupy a random slice of the parent.
    fn local_window(&mut self, p: &Planned) -> (u64, u64) {
        let d = (p.end - p.start) as f64;
        let start = p.start + (d * self.rng.random_range(0.0..0.8)) as u64;
        let dur = ((p.end - start) as f64 * self.rng.random_range(0.05..0.95)) as u64;
        (start, start + dur)
    }

    fn span_id(&mut self) -> [u8; 8] {
        (self.rng.random::<u64>() | 1).to_le_bytes()
    }

    fn sort_by_resource(&mut self) {
        let offsets = &mut self.offsets;
        offsets.iter_mut().for_each(|o| *o = 0);
        for p in &self.plan {
            offsets[p.resource() + 1] += 1;
        }
        for r in 1..offsets.len() {
            offsets[r] += offsets[r - 1];
        }
        self.order.clear();
        self.order.resize(self.plan.len(), 0);
        // Use the upper offsets as cursors, then restore them.
        for (i, p) in self.plan.iter().enumerate() {
            let r = p.resource();
            self.order[offsets[r] as usize] = i as u32;
            offsets[r] += 1;
        }
        for r in (1..offsets.len()).rev() {
            offsets[r] = offsets[r - 1];
        }
        offsets[0] = 0;
    }

    fn encode(&mut self) {
        self.w.clear();
        let mut ctx = SpanWriter {
            w: &mut self.w,
            rng: &mut self.rng,
            world: &self.world,
        };
        for r in 0..self.world.resources.len() {
            let (a, b) = (self.offsets[r] as usize, self.offsets[r + 1] as usize);
            if a == b {
                continue;
            }
            let rs = ctx.w.begin(1); // ExportTraceServiceRequest.resource_spans
            ctx.w.bytes(RS_RESOURCE, &ctx.world.resources[r]);
            let ss = ctx.w.begin(RS_SCOPE_SPANS);
            ctx.w.bytes(SS_SCOPE, &ctx.world.scopes[r / INSTANCES]);
            for &i in &self.order[a..b] {
                let p = &self.plan[i as usize];
                ctx.span(p, &self.trace_ids[p.trace as usize]);
            }
            ctx.w.end(ss);
            ctx.w.string(RS_SCHEMA_URL, SCHEMA_URL);
            ctx.w.end(rs);
        }
    }
}

fn server_role(svc: &Service) -> Role {
    if svc.grpc {
        Role::RpcServer
    } else {
        Role::HttpServer
    }
}

fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Writes one span and its attributes; borrows the generator's parts
/// separately so the planned spans can be read while the buffer is written.
struct SpanWriter<'a> {
    w: &'a mut PbWriter,
    rng: &'a mut SmallRng,
    world: &'a World,
}

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
];
const REGIONS: &[&str] = &["us-east-1", "eu-west-1", "ap-southeast-2"];
const CURRENCIES: &[&str] = &["USD", "EUR", "JPY", "GBP", "CHF"];
const LOCALES: &[&str] = &["en-US", "de-DE", "ja-JP", "fr-FR", "pt-BR"];
/// (exception.type, status message)
const FAILURES: &[(&str, &str)] = &[
    ("java.net.ConnectException", "connection refused"),
    ("context.DeadlineExceeded", "context deadline exceeded"),
    ("UpstreamError", "upstream returned 503 Service Unavailable"),
    (
        "NullPointerException",
        "null pointer dereference in handler",
    ),
    (
        "UniqueViolation",
        "duplicate key value violates unique constraint",
    ),
    ("TimeoutError", "timed out waiting for lock after 5000ms"),
];
const STACK: &str = "at com.example.Handler.handle(Handler.java:118)\n\
at com.example.Router.dispatch(Router.java:42)\n\
at io.netty.channel.AbstractChannelHandlerContext.invokeChannelRead(AbstractChannelHandlerContext.java:444)";
/// The extra (non-semantic) attributes; a span uses a random run of them.
const EXTRA_ATTRS: usize = 16;

impl SpanWriter<'_> {
    fn span(&mut self, p: &Planned, trace_id: &[u8; 16]) {
        let m = self.w.begin(SS_SPANS);
        self.w.bytes(1, trace_id);
        self.w.bytes(2, &p.span_id);
        if p.parent_id != [0; 8] {
            self.w.bytes(4, &p.parent_id);
        }
        self.w.string(5, span_name(self.world, p));
        self.w.uint(6, p.role.kind());
        self.w.fixed64(7, p.start);
        self.w.fixed64(8, p.end);
        self.attributes(p);
        if p.event {
            self.event(p);
        }
        if p.error {
            let s = self.w.begin(15);
            self.w.string(2, FAILURES[failure(p)].1);
            self.w.uint(3, 2); // STATUS_CODE_ERROR
            self.w.end(s);
        }
        self.w.end(m);
    }

    fn attributes(&mut self, p: &Planned) {
        let base = self.semantic_attributes(p);
        let target = self.rng.random_range(MIN_ATTRS..=MAX_ATTRS);
        let start = self.rng.random_range(0..EXTRA_ATTRS);
        for j in 0..target.saturating_sub(base) {
            self.extra_attribute((start + j) % EXTRA_ATTRS);
        }
    }

    /// Writes the attributes semantic conventions prescribe for the role;
    /// returns how many.
    fn semantic_attributes(&mut self, p: &Planned) -> usize {
        // Copy the `&World` out of `self` so the borrows below outlive `&mut self` calls.
        let world = self.world;
        let svc = &world.services[p.service as usize];
        let peer = &world.services[p.peer as usize];
        match p.role {
            Role::HttpServer => self.http_server(svc, p),
            Role::RpcServer => self.rpc(svc, p, true),
            Role::HttpClient => self.http_client(peer, p),
            Role::RpcClient => self.rpc(peer, p, false),
            Role::DbClient => self.db(svc, p),
            Role::Producer => self.messaging(svc, "publish", p),
            Role::Consumer => self.messaging(svc, "process", p),
            Role::Internal => self.internal(svc, p),
        }
    }

    fn status_code(&mut self, p: &Planned, method: &str) -> i64 {
        if p.error {
            return 500;
        }
        match self.rng.random_range(0..100u32) {
            0..4 => 404,
            4..6 => 400,
            _ if method == "POST" => 201,
            _ => 200,
        }
    }

    fn http_server(&mut self, svc: &Service, p: &Planned) -> usize {
        let op = &svc.server_ops[p.op as usize];
        let status = self.status_code(p, op.method);
        let id = Num::new(self.rng.random_range(1..1_000_000u64));
        let id = if op.path_has_id { id.as_bytes() } else { &[] };
        let w = &mut *self.w;
        w.kv_str(SPAN_ATTR, "http.request.method", op.method);
        w.kv_str(SPAN_ATTR, "http.route", &op.route);
        concat(w, "url.path", &[op.path_prefix.as_bytes(), id]);
        w.kv_str(SPAN_ATTR, "url.scheme", "http");
        w.kv_int(SPAN_ATTR, "http.response.status_code", status);
        w.kv_str(SPAN_ATTR, "server.address", &svc.host);
        w.kv_int(SPAN_ATTR, "server.port", 8080);
        let ip = self.rng.random::<u32>();
        ip_attr(w, "client.address", ip);
        let ua = USER_AGENTS[(ip >> 24) as usize % USER_AGENTS.len()];
        w.kv_str(SPAN_ATTR, "user_agent.original", ua);
        w.kv_str(SPAN_ATTR, "network.protocol.version", "1.1");
        10
    }

    fn http_client(&mut self, peer: &Service, p: &Planned) -> usize {
        let op = &peer.server_ops[p.op as usize];
        let status = self.status_code(p, op.method);
        let id = Num::new(self.rng.random_range(1..1_000_000u64));
        let id = if op.path_has_id { id.as_bytes() } else { &[] };
        let w = &mut *self.w;
        w.kv_str(SPAN_ATTR, "http.request.method", op.method);
        let parts: [&[u8]; 5] = [
            b"http://",
            peer.host.as_bytes(),
            b":8080",
            op.path_prefix.as_bytes(),
            id,
        ];
        concat(w, "url.full", &parts);
        w.kv_str(SPAN_ATTR, "server.address", &peer.host);
        w.kv_int(SPAN_ATTR, "server.port", 8080);
        w.kv_str(SPAN_ATTR, "net.peer.name", &peer.name);
        w.kv_int(SPAN_ATTR, "http.response.status_code", status);
        6
    }

    /// Both sides of a gRPC call; `svc` is the callee.
    fn rpc(&mut self, svc: &Service, p: &Planned, server: bool) -> usize {
        let op = &svc.server_ops[p.op as usize];
        let code = if p.error { 14 } else { 0 }; // UNAVAILABLE / OK
        let ip = self.rng.random::<u32>();
        let w = &mut *self.w;
        w.kv_str(SPAN_ATTR, "rpc.system", "grpc");
        w.kv_str(SPAN_ATTR, "rpc.service", &op.rpc_service);
        w.kv_str(SPAN_ATTR, "rpc.method", op.rpc_method);
        w.kv_int(SPAN_ATTR, "rpc.grpc.status_code", code);
        w.kv_str(SPAN_ATTR, "server.address", &svc.host);
        w.kv_int(SPAN_ATTR, "server.port", 50051);
        if server {
            ip_attr(w, "network.peer.address", ip);
        } else {
            w.kv_str(SPAN_ATTR, "net.peer.name", &svc.name);
        }
        7
    }

    fn db(&mut self, svc: &Service, p: &Planned) -> usize {
        let op = &svc.db_ops[p.op as usize];
        let port = match svc.db_system {
            "postgresql" => 5432,
            "mysql" => 3306,
            "redis" => 6379,
            _ => 27017,
        };
        let w = &mut *self.w;
        w.kv_str(SPAN_ATTR, "db.system", svc.db_system);
        w.kv_str(SPAN_ATTR, "db.name", &svc.db_name);
        w.kv_str(SPAN_ATTR, "db.operation", op.operation);
        w.kv_str(SPAN_ATTR, "db.statement", &op.statement);
        w.kv_str(SPAN_ATTR, "server.address", &svc.db_host);
        w.kv_int(SPAN_ATTR, "server.port", port);
        w.kv_str(SPAN_ATTR, "net.peer.name", &svc.db_host);
        7
    }

    /// Kafka publish/process; `svc` is the span's own service. The topic
    /// belongs to the producing service (`p.peer` for consumers).
    fn messaging(&mut self, svc: &Service, operation: &str, p: &Planned) -> usize {
        let owner = if p.role == Role::Producer {
            svc
        } else {
            &self.world.services[p.peer as usize]
        };
        let topic = &owner.topics[p.op as usize];
        let (a, b) = (self.rng.random::<u64>(), self.rng.random::<u64>());
        let partition = (a % 12) as i64;
        let w = &mut *self.w;
        w.kv_str(SPAN_ATTR, "messaging.system", "kafka");
        w.kv_str(SPAN_ATTR, "messaging.destination.name", &topic.name);
        w.kv_str(SPAN_ATTR, "messaging.operation", operation);
        w.kv_str_with(SPAN_ATTR, "messaging.message.id", 32, |buf| {
            push_hex(buf, a);
            push_hex(buf, b);
        });
        w.kv_int(SPAN_ATTR, "messaging.destination.partition.id", partition);
        if p.role == Role::Producer {
            w.kv_str(
                SPAN_ATTR,
                "server.address",
                "kafka-0.platform.svc.cluster.local",
            );
        } else {
            w.kv_str(SPAN_ATTR, "messaging.consumer.group.name", &svc.name);
        }
        6
    }

    fn internal(&mut self, svc: &Service, p: &Planned) -> usize {
        let thread = self.rng.random_range(1..64u64);
        let w = &mut *self.w;
        w.kv_str(SPAN_ATTR, "code.function", svc.internal_ops[p.op as usize]);
        w.kv_str(SPAN_ATTR, "code.namespace", &svc.code_namespace);
        w.kv_int(SPAN_ATTR, "thread.id", thread as i64);
        concat(w, "thread.name", &[b"worker-", Num::new(thread).as_bytes()]);
        4
    }

    /// Application attributes with a realistic mix of cardinalities and types.
    fn extra_attribute(&mut self, which: usize) {
        let r = self.rng.random::<u64>();
        let r2 = self.rng.random::<u64>();
        let w = &mut *self.w;
        match which {
            0 => concat(
                w,
                "enduser.id",
                &[b"user-", Num::new(r % 50_000).as_bytes()],
            ),
            1 => w.kv_str_with(SPAN_ATTR, "app.session.id", 16, |b| push_hex(b, r)),
            2 => w.kv_str_with(SPAN_ATTR, "app.request.id", 32, |b| {
                push_hex(b, r);
                push_hex(b, r2);
            }),
            3 => concat(
                w,
                "app.tenant.id",
                &[b"tenant-", Num::new(r % 50).as_bytes()],
            ),
            4 => w.kv_str(
                SPAN_ATTR,
                "cloud.region",
                REGIONS[r as usize % REGIONS.len()],
            ),
            5 => w.kv_int(SPAN_ATTR, "app.cart.items", (r % 21) as i64),
            6 => w.kv_f64(SPAN_ATTR, "app.order.amount", (r % 50_000) as f64 / 100.0),
            7 => w.kv_bool(SPAN_ATTR, "app.cache.hit", r & 1 == 1),
            8 => w.kv_bool(SPAN_ATTR, "app.feature.new_checkout", r % 10 == 0),
            9 => w.kv_int(SPAN_ATTR, "app.retry.count", (r % 4) as i64),
            10 => w.kv_int(SPAN_ATTR, "app.payload.bytes", (100 + r % 200_000) as i64),
            11 => concat(
                w,
                "app.product.id",
                &[b"SKU-", Num::new(10_000 + r % 5_000).as_bytes()],
            ),
            12 => w.kv_str(
                SPAN_ATTR,
                "app.currency",
                CURRENCIES[r as usize % CURRENCIES.len()],
            ),
            13 => w.kv_f64(
                SPAN_ATTR,
                "app.ml.score",
                (r >> 11) as f64 / (1u64 << 53) as f64,
            ),
            14 => {
                let len = 8 + (r2 % 25) as usize;
                w.kv_str_with(SPAN_ATTR, "app.note", len, |b| push_text(b, r, r2, len));
            }
            _ => w.kv_str(SPAN_ATTR, "app.locale", LOCALES[r as usize % LOCALES.len()]),
        }
    }

    fn event(&mut self, p: &Planned) {
        let at = p.start + (((p.end - p.start) as f64) * self.rng.random::<f64>()) as u64;
        let r = self.rng.random::<u64>();
        let m = self.w.begin(11);
        self.w.fixed64(1, at);
        if p.error {
            let (ty, msg) = FAILURES[failure(p)];
            self.w.string(2, "exception");
            self.w.kv_str(EVENT_ATTR, "exception.type", ty);
            self.w.kv_str(EVENT_ATTR, "exception.message", msg);
            self.w.kv_str(EVENT_ATTR, "exception.stacktrace", STACK);
        } else if r & 1 == 0 {
            self.w.string(2, "cache.miss");
            let n = Num::new(r % 100_000);
            let parts: [&[u8]; 2] = [b"cart:", n.as_bytes()];
            concat_field(self.w, EVENT_ATTR, "cache.key", &parts);
        } else {
            self.w.string(2, "log");
            self.w.kv_str(EVENT_ATTR, "log.severity", "INFO");
            let n = Num::new(r % 500);
            let parts: [&[u8]; 3] = [b"processed ", n.as_bytes(), b" items"];
            concat_field(self.w, EVENT_ATTR, "log.message", &parts);
        }
        self.w.end(m);
    }
}

/// Index into `FAILURES`, derived from the span ID so the status message and
/// the exception event agree without storing anything.
fn failure(p: &Planned) -> usize {
    p.span_id[1] as usize % FAILURES.len()
}

fn span_name<'a>(world: &'a World, p: &Planned) -> &'a str {
    let svc = &world.services[p.service as usize];
    let peer = &world.services[p.peer as usize];
    let op = p.op as usize;
    match p.role {
        Role::HttpServer | Role::RpcServer => &svc.server_ops[op].name,
        // Semantic conventions name HTTP client spans by method only.
        Role::HttpClient => peer.server_ops[op].method,
        Role::RpcClient => &peer.server_ops[op].name,
        Role::DbClient => &svc.db_ops[op].name,
        Role::Internal => svc.internal_ops[op],
        Role::Producer => &svc.topics[op].publish_name,
        Role::Consumer => &peer.topics[op].process_name,
    }
}

/// A span string attribute made of several byte slices.
fn concat(w: &mut PbWriter, key: &str, parts: &[&[u8]]) {
    concat_field(w, SPAN_ATTR, key, parts);
}

fn concat_field(w: &mut PbWriter, field: u32, key: &str, parts: &[&[u8]]) {
    let len = parts.iter().map(|p| p.len()).sum();
    w.kv_str_with(field, key, len, |b| {
        parts.iter().for_each(|p| b.extend_from_slice(p))
    });
}

/// A private-range IPv4 address from random bits.
fn ip_attr(w: &mut PbWriter, key: &str, bits: u32) {
    let [a, b, c, _] = bits.to_le_bytes();
    let (a, b, c) = (Num::new(a.into()), Num::new(b.into()), Num::new(c.into()));
    concat(
        w,
        key,
        &[b"10.", a.as_bytes(), b".", b.as_bytes(), b".", c.as_bytes()],
    );
}

fn push_hex(buf: &mut Vec<u8>, v: u64) {
    for shift in (0..16).rev() {
        buf.push(b"0123456789abcdef"[((v >> (shift * 4)) & 0xf) as usize]);
    }
}

/// `len` (≤ 40) characters of random text from two random words, 6 bits per character.
fn push_text(buf: &mut Vec<u8>, a: u64, b: u64, len: usize) {
    const ALPHABET: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -";
    for i in 0..len {
        let word = if i < 10 {
            a
        } else {
            b.rotate_left(((i / 10) * 7) as u32)
        };
        buf.push(ALPHABET[((word >> ((i % 10) * 6)) & 63) as usize]);
    }
}

/// Decimal formatting into a stack buffer (no allocation, no `fmt`).
struct Num {
    buf: [u8; 20],
    start: usize,
}

impl Num {
    fn new(mut v: u64) -> Num {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        Num { buf, start: i }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message;
    use std::collections::HashMap;

    fn batch(services: usize, seed: u64, spans: usize) -> ExportTraceServiceRequest {
        let world = Arc::new(World::new(services, seed));
        let mut g = Generator::new(world, seed);
        let bytes = g.next_batch(spans).to_vec();
        ExportTraceServiceRequest::decode(&bytes[..]).expect("valid protobuf")
    }

    fn all_spans(req: &ExportTraceServiceRequest) -> Vec<&Span> {
        req.resource_spans
            .iter()
            .flat_map(|rs| rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()))
            .collect()
    }

    #[test]
    fn num_formats_decimal() {
        for v in [0u64, 7, 10, 12345, u64::MAX] {
            assert_eq!(Num::new(v).as_bytes(), v.to_string().as_bytes());
        }
    }

    #[test]
    fn batch_has_exact_span_count_and_valid_trees() {
        let req = batch(10, 7, 5000);
        let spans = all_spans(&req);
        assert_eq!(spans.len(), 5000);
        let by_id: HashMap<(&[u8], &[u8]), &Span> = spans
            .iter()
            .map(|s| ((&s.trace_id[..], &s.span_id[..]), *s))
            .collect();
        assert_eq!(by_id.len(), spans.len(), "span ids are unique");
        let mut per_trace: HashMap<&[u8], (usize, usize)> = HashMap::new();
        for s in &spans {
            assert_eq!(s.trace_id.len(), 16);
            assert_eq!(s.span_id.len(), 8);
            assert!(s.start_time_unix_nano <= s.end_time_unix_nano);
            assert!(
                (MIN_ATTRS..=MAX_ATTRS).contains(&s.attributes.len()),
                "{}",
                s.attributes.len()
            );
            let e = per_trace.entry(&s.trace_id[..]).or_default();
            e.0 += 1;
            if s.parent_span_id.is_empty() {
                e.1 += 1;
                assert_eq!(s.kind, 2, "roots are SERVER spans");
                continue;
            }
            let parent = by_id[&(&s.trace_id[..], &s.parent_span_id[..])];
            assert!(parent.start_time_unix_nano <= s.start_time_unix_nano);
            assert!(
                s.end_time_unix_nano <= parent.end_time_unix_nano,
                "child inside parent"
            );
        }
        for (spans, roots) in per_trace.values() {
            assert_eq!(*roots, 1, "one root per trace");
            assert!(*spans <= MAX_TRACE_SPANS);
        }
        // Only the last trace of a batch may be shrunk below the minimum.
        let small = per_trace
            .values()
            .filter(|(n, _)| *n < MIN_TRACE_SPANS)
            .count();
        assert!(small <= 1);
    }

    #[test]
    fn resources_group_spans_and_carry_service_name() {
        let req = batch(10, 3, 2000);
        for rs in &req.resource_spans {
            let attrs = &rs.resource.as_ref().unwrap().attributes;
            assert!(attrs.iter().any(|kv| kv.key == "service.name"));
            assert!(attrs.iter().any(|kv| kv.key == "k8s.pod.name"));
            assert_eq!(rs.scope_spans.len(), 1);
        }
        let names: std::collections::HashSet<_> = req
            .resource_spans
            .iter()
            .map(|rs| format!("{:?}", rs.resource.as_ref().unwrap().attributes[0].value))
            .collect();
        assert_eq!(names.len(), 10, "all services appear in a 2000-span batch");
    }

    #[test]
    fn kinds_errors_and_events_are_present() {
        let req = batch(10, 11, 20_000);
        let spans = all_spans(&req);
        let mut kinds = [0usize; 6];
        let mut errors = 0;
        let mut events = 0;
        for s in &spans {
            kinds[s.kind as usize] += 1;
            if s.status.as_ref().is_some_and(|st| st.code == 2) {
                errors += 1;
                assert!(!s.status.as_ref().unwrap().message.is_empty());
            }
            events += s.events.len();
        }
        assert!(
            kinds[1..].iter().all(|&k| k > 0),
            "all five kinds: {kinds:?}"
        );
        let err_pct = errors as f64 * 100.0 / spans.len() as f64;
        assert!((2.0..4.0).contains(&err_pct), "{err_pct}");
        assert!(events > spans.len() / 10);
        let db = spans
            .iter()
            .filter(|s| s.attributes.iter().any(|kv| kv.key == "db.statement"))
            .count();
        assert!(db > 0);
    }

    #[test]
    fn span_name_cardinality_is_bounded() {
        let req = batch(10, 5, 50_000);
        let names: std::collections::HashSet<_> =
            all_spans(&req).iter().map(|s| s.name.clone()).collect();
        assert!(names.len() < 250, "{} names", names.len());
    }

    #[test]
    fn same_seed_same_shape() {
        let a = batch(10, 9, 1000);
        let b = batch(10, 9, 1000);
        let ids = |r: &ExportTraceServiceRequest| {
            all_spans(r)
                .iter()
                .map(|s| s.span_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
    }
}
