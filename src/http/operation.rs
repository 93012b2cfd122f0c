//! The operation table's types and how it becomes actix routes.
//!
//! Every operation the emulator serves is declared once, as an [`Operation`] in its service's
//! [`Service`] (`api::<service>::SERVICE`): name, method, path template, api-versions, how it
//! authenticates and its handler. [`register`] turns the table into routes:
//!
//! - one actix resource per path, with one route per method; any other method answers 405
//!   with the envelope;
//! - on each route one layer ([`OperationLayer`]) that puts the [`Matched`] operation into the
//!   request extensions and, in order, authenticates the request as [`Operation::auth`] says
//!   (401 otherwise), applies the scenario rules (data-plane operations only), calls the handler
//!   and adds `api-supported-versions`. One layer per route, not one middleware per concern: each
//!   `from_fn` layer boxes a future per request (BENCHMARKS.md);
//! - a service's [`Mount`]s are path prefixes (actix scopes) that group its operations: a request
//!   under one that matches no operation is authenticated as the mount says and answered 404,
//!   with the mount's `api-supported-versions`, as the real service's gateway does. Operations
//!   outside every mount are registered at the root.
//!
//! The journal, the access log, the scenario engine, the `ApiVersion` and `ChatCaller`
//! extractors and `GET /_emulator/operations` read the matched operation or the table; nothing
//! parses paths a second time.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::body::BoxBody;
use actix_web::dev::{
    ResourceDef, Service as ActixService, ServiceFactory, ServiceRequest, ServiceResponse,
    fn_service,
};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, HttpRequest, ResponseError, Route, web};
use futures_util::future::LocalBoxFuture;

use super::auth;
use crate::config::LimitFlags;
use crate::domain::ChatRole;
use crate::error::ApiError;
use crate::state::AppState;

/// How a request to an operation authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// Not at all: the Entra ID authority's endpoints, the control API's probes and
    /// certificates.
    None,
    /// An access-key (HMAC) signature or a Microsoft Entra ID bearer token (Identity, SMS); the
    /// credential picks the resource.
    AccessKeyOrEntra,
    /// An ACS user access token (Chat); the token picks the resource. The token's chat scope
    /// must allow at least this role: the `ChatCaller` extractor checks that, after the
    /// api-version (a wrong version answers 400 before a weak scope answers 403).
    UserToken(ChatRole),
    /// The control API: `Authorization: Bearer <--control-token>` when one is set.
    Control,
}

/// Which part of the emulator a service belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// An ACS API (Identity, Chat, SMS, Email): journaled by name, named in the access log, open to
    /// scenario rules and listed by `GET /_emulator/operations`.
    Data,
    /// The built-in Microsoft Entra ID authority (journaled without a name).
    Entra,
    /// The emulator's own `/_emulator/*` API (not journaled).
    Control,
    /// The trouter of real-time chat notifications (`api::realtime`): its own authentication
    /// (`X-Skypetoken`, the allocation's `sr`), journaled without a name, not open to request
    /// rules (its notifications have rules of their own).
    Realtime,
}

/// One operation: everything the emulator needs to route, authenticate, version-check and
/// journal a request, and the handler that answers it.
pub struct Operation {
    /// `<Service>.<Operation>`: the name journal entries, the access log and scenario rules use.
    pub name: &'static str,
    /// The HTTP method.
    pub method: Method,
    /// The path template (actix syntax: `{thread_id}`). Path ids that scenario rules match on are
    /// called `thread_id` (a chat thread) and `user_id` (an identity).
    pub path: &'static str,
    /// The api-versions it accepts (`ApiVersion` checks them); empty when it takes none.
    pub versions: &'static [&'static str],
    /// How it authenticates.
    pub auth: AuthKind,
    /// Binds the handler: `|r| r.to(handler)`.
    pub route: fn(Route) -> Route,
    /// The largest body it takes, when that is not `--max-body-bytes` (Email sends take
    /// `--max-email-request-bytes`): the edge reads its body within this instead.
    pub body_limit: Option<fn(&LimitFlags) -> usize>,
}

impl Operation {
    /// An operation: `name` (`<Service>.<Operation>`), `method` and `path`, the `versions` it
    /// accepts, how it authenticates, and `route`, which binds its handler (`|r| r.to(handler)`).
    pub const fn new(
        name: &'static str,
        method: Method,
        path: &'static str,
        versions: &'static [&'static str],
        auth: AuthKind,
        route: fn(Route) -> Route,
    ) -> Self {
        Self {
            name,
            method,
            path,
            versions,
            auth,
            route,
            body_limit: None,
        }
    }

    /// The operation, taking bodies up to `limit(flags)` bytes instead of `--max-body-bytes`.
    pub const fn with_body_limit(mut self, limit: fn(&LimitFlags) -> usize) -> Self {
        self.body_limit = Some(limit);
        self
    }
}

/// A path prefix a service's operations sit under (see the module docs).
pub struct Mount {
    /// The prefix: operations whose path is this or continues it with `/` are mounted under it.
    pub prefix: &'static str,
    /// How a request under the prefix that matches no operation authenticates.
    pub auth: AuthKind,
    /// The `api-supported-versions` header of every response under the prefix (none if empty).
    pub supported_versions: &'static [&'static str],
}

/// A service's slice of the operation table.
pub struct Service {
    /// What it is part of.
    pub plane: Plane,
    /// Its path prefixes.
    pub mounts: &'static [Mount],
    /// Its operations.
    pub operations: &'static [Operation],
}

/// The operation a request matched (request extensions).
#[derive(Clone, Copy)]
pub struct Matched {
    /// The operation.
    pub operation: &'static Operation,
    /// Its service.
    pub service: &'static Service,
}

impl Matched {
    /// The operation `req` matched, if it matched one.
    pub fn of(req: &HttpRequest) -> Option<Matched> {
        req.extensions().get::<Matched>().copied()
    }

    /// Its name, for the journal and the access log: data-plane operations only.
    pub fn data_plane_name(&self) -> Option<&'static str> {
        (self.service.plane == Plane::Data).then_some(self.operation.name)
    }
}

/// Which operation a method and path name, for requests answered before they were routed (the
/// edge's refusals: 413, 408, 431, …): the journal and the access log name their operation too.
/// Built once from the table (app data); routing itself never uses it.
pub struct OperationIndex {
    all: Vec<(ResourceDef, Matched)>,
    /// The operations with a body limit of their own (the edge asks before reading a body).
    own_body_limit: Vec<(ResourceDef, Matched)>,
}

impl OperationIndex {
    /// The index of `services`, in registration order (the first match wins, as in routing).
    pub fn new(services: &'static [&'static Service]) -> Self {
        let all: Vec<(ResourceDef, Matched)> = services
            .iter()
            .flat_map(|&service| {
                service.operations.iter().map(move |operation| {
                    (
                        ResourceDef::new(operation.path),
                        Matched { operation, service },
                    )
                })
            })
            .collect();
        let own_body_limit = all
            .iter()
            .filter(|(_, m)| m.operation.body_limit.is_some())
            .cloned()
            .collect();
        Self {
            all,
            own_body_limit,
        }
    }

    /// The operation `method` on `path` names.
    pub fn find(&self, method: &Method, path: &str) -> Option<Matched> {
        self.all
            .iter()
            .find(|(def, m)| m.operation.method == method && def.is_match(path))
            .map(|(_, m)| *m)
    }

    /// The body limit of the operation `method` on `path` names, if it has one of its own
    /// ([`Operation::with_body_limit`]); only those few operations are looked at.
    pub fn body_limit(&self, method: &Method, path: &str, flags: &LimitFlags) -> Option<usize> {
        self.own_body_limit
            .iter()
            .find(|(def, m)| m.operation.method == method && def.is_match(path))
            .and_then(|(_, m)| m.operation.body_limit)
            .map(|limit| limit(flags))
    }
}

impl Matched {
    /// The operation `req` matched or, for a request answered before it was routed, the one its
    /// method and path name.
    pub fn resolve(req: &HttpRequest) -> Option<Matched> {
        Self::of(req).or_else(|| {
            req.app_data::<web::Data<OperationIndex>>()?
                .find(req.method(), req.path())
        })
    }
}

/// Every data-plane operation's name, in table order: what scenario rules may name.
pub fn data_plane_names(services: &[&'static Service]) -> Vec<&'static str> {
    services
        .iter()
        .filter(|s| s.plane == Plane::Data)
        .flat_map(|s| s.operations.iter().map(|op| op.name))
        .collect()
}

/// Registers `services` in order (where path patterns overlap, the earlier one wins).
pub fn register(cfg: &mut web::ServiceConfig, services: &'static [&'static Service]) {
    for &service in services {
        let under = |mount: &Mount, path: &str| {
            path == mount.prefix
                || path
                    .strip_prefix(mount.prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        for mount in service.mounts {
            let header = supported_versions(mount.supported_versions);
            let fallback = fallback(super::response::no_operation, mount.auth, header.clone());
            let mut scope = web::scope(mount.prefix).default_service(fallback);
            for path in paths(service, |path| under(mount, path)) {
                let relative = &path[mount.prefix.len()..];
                scope = scope.service(path_resource(service, path, relative, header.clone()));
            }
            cfg.service(scope);
        }
        for path in paths(service, |path| {
            !service.mounts.iter().any(|m| under(m, path))
        }) {
            // Outside every mount (`/emails:send`): the operation's own versions.
            let versions = service
                .operations
                .iter()
                .find(|op| op.path == path)
                .map_or(&[][..], |op| op.versions);
            cfg.service(path_resource(
                service,
                path,
                path,
                supported_versions(versions),
            ));
        }
    }
}

/// The distinct paths of `service`'s operations that `keep` accepts, in table order.
fn paths(service: &'static Service, keep: impl Fn(&str) -> bool) -> Vec<&'static str> {
    let mut paths: Vec<&'static str> = Vec::new();
    for op in service.operations {
        if keep(op.path) && !paths.contains(&op.path) {
            paths.push(op.path);
        }
    }
    paths
}

/// The resource of one path: a route per operation, 405 for any other method.
fn path_resource(
    service: &'static Service,
    path: &'static str,
    relative: &str,
    header: Option<HeaderValue>,
) -> actix_web::Resource {
    let ops = service.operations.iter().filter(|op| op.path == path);
    // Every operation of a path authenticates alike (their roles aside).
    let auth = ops.clone().next().map_or(AuthKind::None, |op| op.auth);
    let mut resource = web::resource(relative.to_string()).default_service(fallback(
        super::response::method_refused,
        auth,
        header.clone(),
    ));
    for operation in ops {
        let layer = OperationLayer {
            inner: (operation.route)(web::route()),
            matched: Matched { operation, service },
            header: header.clone(),
        };
        resource = resource.route(web::method(operation.method.clone()).service(layer));
    }
    resource
}

/// `api-supported-versions: v1, v2, …` (none for an empty list).
fn supported_versions(versions: &[&str]) -> Option<HeaderValue> {
    if versions.is_empty() {
        return None;
    }
    HeaderValue::from_str(&versions.join(", ")).ok()
}

const API_SUPPORTED_VERSIONS: HeaderName = HeaderName::from_static("api-supported-versions");

/// Adds `api-supported-versions` unless the response has it already (a scripted one may).
fn add_supported_versions(res: &mut actix_web::HttpResponse, header: &Option<HeaderValue>) {
    if let Some(value) = header
        && !res.headers().contains_key(&API_SUPPORTED_VERSIONS)
    {
        res.headers_mut()
            .insert(API_SUPPORTED_VERSIONS, value.clone());
    }
}

/// Authenticates `req` as `auth` says, leaving what it found in the request extensions (the
/// resource, the caller). The role of [`AuthKind::UserToken`] is checked later, by `ChatCaller`.
fn authenticate(state: &AppState, auth: AuthKind, req: &HttpRequest) -> Result<(), ApiError> {
    match auth {
        AuthKind::None => Ok(()),
        AuthKind::Control => auth::control(state, req),
        AuthKind::AccessKeyOrEntra => {
            let body = req
                .extensions()
                .get::<super::BufferedBody>()
                .map(|b| b.0.clone())
                .unwrap_or_default();
            let (resource, caller) = auth::service_caller(state, req, &body)?;
            let mut ext = req.extensions_mut();
            ext.insert(super::Res(resource));
            ext.insert(caller);
            Ok(())
        }
        AuthKind::UserToken(_) => match auth::user_token(state, req.headers()) {
            Ok((resource, token)) => {
                let mut ext = req.extensions_mut();
                ext.insert(super::Res(resource));
                ext.insert(token);
                Ok(())
            }
            Err(e) => {
                tracing::info!(reason = %e, method = %req.method(), path = %req.path(), "user token authentication failed");
                Err(e)
            }
        },
    }
}

/// The 404 of a mount and the 405 of a path: authenticate as the operations there do, then
/// answer `error`.
fn fallback(
    error: fn(&HttpRequest) -> ApiError,
    auth: AuthKind,
    header: Option<HeaderValue>,
) -> impl ServiceFactory<
    ServiceRequest,
    Config = (),
    Response = ServiceResponse,
    Error = Error,
    InitError = (),
> {
    fn_service(move |req: ServiceRequest| {
        let header = header.clone();
        async move {
            let refused = match req.app_data::<web::Data<AppState>>() {
                Some(state) => authenticate(state, auth, req.request()).err(),
                None => None,
            };
            let mut res = refused
                .unwrap_or_else(|| error(req.request()))
                .error_response();
            add_supported_versions(&mut res, &header);
            Ok(req.into_response(res))
        }
    })
}

/// The per-route layer (see the module docs), as the route's service: the handler's route
/// (`inner`, built by [`Operation::route`]) wrapped in [`OperationService`]. Being the route's
/// own service rather than a `Route::wrap` middleware spares a compatibility wrapper per request.
pub struct OperationLayer {
    inner: Route,
    matched: Matched,
    header: Option<HeaderValue>,
}

/// The service a route's handler runs as.
type HandlerService = <Route as ServiceFactory<ServiceRequest>>::Service;

impl ServiceFactory<ServiceRequest> for OperationLayer {
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Config = ();
    type Service = OperationService<HandlerService>;
    type InitError = ();
    type Future = LocalBoxFuture<'static, Result<Self::Service, Self::InitError>>;

    fn new_service(&self, _: ()) -> Self::Future {
        let inner = self.inner.new_service(());
        let matched = self.matched;
        let header = self.header.clone();
        Box::pin(async move {
            Ok(OperationService {
                service: Rc::new(inner.await?),
                matched,
                header,
            })
        })
    }
}

/// [`OperationLayer`] around one route's handler.
pub struct OperationService<S> {
    service: Rc<S>,
    matched: Matched,
    header: Option<HeaderValue>,
}

impl<S> ActixService<ServiceRequest> for OperationService<S>
where
    S: ActixService<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = Error> + 'static,
    S::Future: Unpin,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Future = OperationFuture<S::Future>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        req.extensions_mut().insert(self.matched);
        let op = self.matched.operation;
        let data_plane = self.matched.service.plane == Plane::Data;
        let mut scripted = false;
        if op.auth != AuthKind::None || data_plane {
            let Some(state) = req.app_data::<web::Data<AppState>>() else {
                let err = ApiError::Internal(anyhow::anyhow!("AppState is not registered"));
                return OperationFuture::Done(Some(Err(err.into())));
            };
            if let Err(refused) = authenticate(state, op.auth, req.request()) {
                let mut res = req.into_response(refused.error_response());
                add_supported_versions(res.response_mut(), &self.header);
                return OperationFuture::Done(Some(Ok(res)));
            }
            // Whether a rule covers the operation, `scenario::apply` asks (one lock of the engine).
            scripted = data_plane && !state.engine.is_empty();
        }
        let header = self.header.clone();
        if !scripted {
            // The common path: no allocation of its own, the handler's future is polled in place.
            return OperationFuture::Handler {
                future: self.service.call(req),
                header,
            };
        }
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            let err = ApiError::Internal(anyhow::anyhow!("AppState is not registered"));
            return OperationFuture::Done(Some(Err(err.into())));
        };
        let service = Rc::clone(&self.service);
        OperationFuture::Scripted(Box::pin(async move {
            let mut req = req;
            let mut res = match super::scenario::apply(&state, op.name, &mut req).await {
                Some(res) => req.into_response(res),
                None => service.call(req).await?,
            };
            add_supported_versions(res.response_mut(), &header);
            Ok(res)
        }))
    }
}

/// What [`OperationService`] answers with: the handler's response, an answer made at once (a
/// refusal), or, when scenario rules may apply, their work (which may wait) then the handler's.
pub enum OperationFuture<F> {
    /// The handler runs; `api-supported-versions` is added to what it answers.
    Handler {
        /// The handler's future.
        future: F,
        /// The header to add.
        header: Option<HeaderValue>,
    },
    /// The answer is known (taken once).
    Done(Option<Result<ServiceResponse<BoxBody>, Error>>),
    /// Scenario rules first.
    Scripted(LocalBoxFuture<'static, Result<ServiceResponse<BoxBody>, Error>>),
}

impl<F> Future for OperationFuture<F>
where
    F: Future<Output = Result<ServiceResponse<BoxBody>, Error>> + Unpin,
{
    type Output = Result<ServiceResponse<BoxBody>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            OperationFuture::Handler { future, header } => {
                let mut res = std::task::ready!(Pin::new(future).poll(cx))?;
                add_supported_versions(res.response_mut(), header);
                Poll::Ready(Ok(res))
            }
            OperationFuture::Done(answer) => Poll::Ready(answer.take().unwrap_or_else(|| {
                Err(ApiError::Internal(anyhow::anyhow!("polled after completion")).into())
            })),
            OperationFuture::Scripted(future) => future.as_mut().poll(cx),
        }
    }
}
