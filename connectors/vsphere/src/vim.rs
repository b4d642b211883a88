//! A small vim25 client: the session, and the dozen calls strato needs (property collector with
//! container views, tasks, custom fields, search index). Faults come back as [`CallError`];
//! their strato meaning is given in `error.rs`.

use crate::config::{Credentials, VsphereConfig};
use crate::error::CallError;
use crate::soap::{self, Element, MoRef, Request};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The managers of the service content strato uses.
#[derive(Clone, Debug)]
pub struct ServiceContent {
    /// Root folder of the inventory.
    pub root_folder: MoRef,
    /// Property collector.
    pub property_collector: MoRef,
    /// View manager (container views).
    pub view_manager: MoRef,
    /// Session manager (login).
    pub session_manager: MoRef,
    /// Custom fields manager (strato's ownership attributes).
    pub custom_fields_manager: Option<MoRef>,
    /// Search index (inventory paths).
    pub search_index: MoRef,
    /// `about.apiVersion`.
    pub api_version: String,
    /// `about.instanceUuid`: the vCenter's identity.
    pub instance_uuid: String,
    /// `about.fullName`.
    pub full_name: String,
}

/// Properties of one object as read by the property collector (path -> `val` element).
#[derive(Clone, Debug, Default)]
pub struct ObjectContent {
    /// The object.
    pub obj: MoRef,
    /// Its properties.
    pub props: BTreeMap<String, Element>,
}

impl ObjectContent {
    /// The text of a simple property.
    pub fn text(&self, path: &str) -> Option<&str> {
        self.props.get(path).map(|e| e.text.as_str())
    }
}

/// How task polling backs off.
#[derive(Clone, Copy, Debug)]
pub struct TaskPolling {
    /// First wait.
    pub initial: Duration,
    /// Longest wait between polls.
    pub max: Duration,
    /// Give up after this long.
    pub timeout: Duration,
}

/// A logged-in vim25 session.
#[derive(Debug)]
pub struct Vim {
    http: reqwest::Client,
    url: reqwest::Url,
    action: String,
    creds: Credentials,
    sc: ServiceContent,
    // Bumped by every successful login; a caller that saw NotAuthenticated logs in again only
    // when nobody did since it sent its request.
    session: AtomicU64,
    login_lock: Mutex<()>,
    // SOAP requests sent, for call budgets.
    calls: AtomicU64,
    // Container views of this session by container and kinds.
    views: Mutex<std::collections::HashMap<String, MoRef>>,
    /// Task polling.
    pub polling: TaskPolling,
}

fn transport(e: reqwest::Error) -> CallError {
    // reqwest's Display of a connect error hides the cause (refused, TLS...): walk the chain.
    let mut message = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    let lower = message.to_lowercase();
    if lower.contains("certificate")
        || lower.contains("unknownissuer")
        || lower.contains("tls handshake")
    {
        return CallError::Tls { message };
    }
    CallError::Transport {
        message,
        timeout: e.is_timeout(),
    }
}

fn moref_of(e: &Element, name: &str) -> Result<MoRef, CallError> {
    e.child(name)
        .and_then(Element::as_moref)
        .ok_or_else(|| CallError::Parse(format!("service content has no {name}")))
}

impl Vim {
    /// Connects and logs in.
    pub async fn connect(cfg: &VsphereConfig, creds: Credentials) -> Result<Self, CallError> {
        let url = cfg
            .sdk_url()
            .map_err(|e| CallError::Parse(e.message().to_owned()))?;
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .cookie_store(true)
            .timeout(cfg.request_timeout)
            .connect_timeout(Duration::from_secs(15))
            .danger_accept_invalid_certs(cfg.insecure);
        if let Some(path) = &cfg.ca_file {
            let pem = std::fs::read(path).map_err(|e| CallError::Transport {
                message: format!("cannot read ca_file {}: {e}", path.display()),
                timeout: false,
            })?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(transport)? {
                b = b.add_root_certificate(cert);
            }
        }
        let http = b.build().map_err(transport)?;
        let action = format!("urn:vim25/{}", cfg.api_version);
        let si = MoRef::new("ServiceInstance", "ServiceInstance");
        let raw = Self::post(
            &http,
            &url,
            &action,
            &Request::new("RetrieveServiceContent", &si),
        )
        .await?;
        let rv = raw
            .child("returnval")
            .ok_or_else(|| CallError::Parse("RetrieveServiceContent: no returnval".into()))?;
        let about = rv.child("about");
        let sc = ServiceContent {
            root_folder: moref_of(rv, "rootFolder")?,
            property_collector: moref_of(rv, "propertyCollector")?,
            view_manager: moref_of(rv, "viewManager")?,
            session_manager: moref_of(rv, "sessionManager")?,
            custom_fields_manager: rv.child("customFieldsManager").and_then(Element::as_moref),
            search_index: moref_of(rv, "searchIndex")?,
            api_version: about
                .and_then(|a| a.text_of("apiVersion"))
                .unwrap_or_default()
                .to_owned(),
            instance_uuid: about
                .and_then(|a| a.text_of("instanceUuid"))
                .unwrap_or_default()
                .to_owned(),
            full_name: about
                .and_then(|a| a.text_of("fullName"))
                .unwrap_or_default()
                .to_owned(),
        };
        let vim = Self {
            http,
            url,
            action,
            creds,
            sc,
            session: AtomicU64::new(0),
            login_lock: Mutex::new(()),
            calls: AtomicU64::new(1),
            views: Mutex::default(),
            polling: TaskPolling {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(2),
                timeout: cfg.task_timeout,
            },
        };
        vim.login().await?;
        Ok(vim)
    }

    /// SOAP requests sent so far (RetrieveServiceContent and Login included).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// How many times this client logged in (1 after connect; more after sessions expired).
    pub fn logins(&self) -> u64 {
        self.session.load(Ordering::SeqCst)
    }

    /// The service content.
    pub fn sc(&self) -> &ServiceContent {
        &self.sc
    }

    async fn post(
        http: &reqwest::Client,
        url: &reqwest::Url,
        action: &str,
        req: &Request,
    ) -> Result<Element, CallError> {
        let res = http
            .post(url.clone())
            .header("Content-Type", "text/xml; charset=\"utf-8\"")
            .header("SOAPAction", action)
            .body(req.envelope())
            .send()
            .await
            .map_err(transport)?;
        let status = res.status().as_u16();
        let body = res.text().await.map_err(transport)?;
        // vim25 answers faults with 500 and a SOAP body; anything else without one is HTTP trouble.
        match soap::decode(&body) {
            Ok(Ok(el)) if status == 200 => Ok(el),
            Ok(Err(fault)) => Err(CallError::Fault(Box::new(fault))),
            Ok(Ok(_)) | Err(_) if status != 200 => Err(CallError::Http {
                status,
                body: body.chars().take(300).collect(),
            }),
            Ok(Ok(el)) => Ok(el),
            Err(e) => Err(e.into()),
        }
    }

    async fn send(&self, req: &Request) -> Result<Element, CallError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Self::post(&self.http, &self.url, &self.action, req).await
    }

    /// Logs in (again), replacing the session cookie.
    pub async fn login(&self) -> Result<(), CallError> {
        let mut r = Request::new("Login", &self.sc.session_manager);
        r.text("userName", &self.creds.user)
            .text("password", &self.creds.password);
        self.send(&r).await?;
        self.session.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(user = %self.creds.user, "vsphere: logged in");
        Ok(())
    }

    /// Ends the session (vCenter limits concurrent sessions; do not leave them to time out).
    pub async fn logout(&self) -> Result<(), CallError> {
        let r = Request::new("Logout", &self.sc.session_manager);
        self.send(&r).await.map(|_| ())
    }

    /// Sends one request; on `NotAuthenticated` (expired session) logs in again once and resends.
    pub async fn call(&self, req: Request) -> Result<Element, CallError> {
        let seen = self.session.load(Ordering::SeqCst);
        match self.send(&req).await {
            Err(e) if e.is_not_authenticated() => {
                {
                    let _g = self.login_lock.lock().await;
                    if self.session.load(Ordering::SeqCst) == seen {
                        tracing::info!(
                            method = req.method(),
                            "vsphere: session expired, logging in again"
                        );
                        self.login().await?;
                    }
                }
                self.send(&req).await
            }
            other => other,
        }
    }

    /// Calls a method and returns its `returnval` (None for void methods).
    pub async fn returnval(&self, req: Request) -> Result<Option<Element>, CallError> {
        let res = self.call(req).await?;
        Ok(res.child("returnval").cloned())
    }

    /// Calls a method that returns a managed object reference.
    pub async fn call_moref(&self, req: Request) -> Result<MoRef, CallError> {
        let method = req.method();
        self.returnval(req)
            .await?
            .and_then(|e| e.as_moref())
            .ok_or_else(|| CallError::Parse(format!("{method}: no object reference returned")))
    }

    // ---- property collector ----

    fn write_props(r: &mut Request, props: &[(&str, &[&str])]) {
        for (kind, paths) in props {
            r.open("propSet").text("type", kind);
            for p in *paths {
                r.text("pathSet", p);
            }
            r.close();
        }
    }

    async fn retrieve(&self, mut r: Request) -> Result<Vec<ObjectContent>, CallError> {
        r.open("options").text("maxObjects", 500).close();
        let mut out = Vec::new();
        let mut rv = self.returnval(r).await?;
        while let Some(ret) = rv {
            for o in ret.all("objects") {
                let obj = o
                    .child("obj")
                    .and_then(Element::as_moref)
                    .ok_or_else(|| CallError::Parse("objects without obj".into()))?;
                let mut props = BTreeMap::new();
                for p in o.all("propSet") {
                    if let (Some(n), Some(v)) = (p.text_of("name"), p.child("val")) {
                        props.insert(n.to_owned(), v.clone());
                    }
                }
                out.push(ObjectContent { obj, props });
            }
            rv = match ret.text_of("token") {
                Some(token) if !token.is_empty() => {
                    let mut c =
                        Request::new("ContinueRetrievePropertiesEx", &self.sc.property_collector);
                    c.text("token", token);
                    self.returnval(c).await?
                }
                _ => None,
            };
        }
        Ok(out)
    }

    /// Reads `paths` of every object of the given kinds under `container` (recursively) through
    /// a container view. Views are kept for the session (one per container and kinds), so a
    /// listing is one round trip; a view that vanished with an expired session is made again.
    pub async fn list(
        &self,
        container: &MoRef,
        props: &[(&str, &[&str])],
    ) -> Result<Vec<ObjectContent>, CallError> {
        let kinds: Vec<&str> = props.iter().map(|(k, _)| *k).collect();
        let key = format!("{}/{}", container.value, kinds.join(","));
        let mut fresh = false;
        loop {
            let cached = self.views.lock().await.get(&key).cloned();
            let view = match cached {
                Some(v) => v,
                None => {
                    let mut cv = Request::new("CreateContainerView", &self.sc.view_manager);
                    cv.moref("container", container);
                    for k in &kinds {
                        cv.text("type", k);
                    }
                    cv.text("recursive", true);
                    let v = self.call_moref(cv).await?;
                    self.views.lock().await.insert(key.clone(), v.clone());
                    fresh = true;
                    v
                }
            };
            let mut r = Request::new("RetrievePropertiesEx", &self.sc.property_collector);
            r.open("specSet");
            Self::write_props(&mut r, props);
            r.open("objectSet").moref("obj", &view).text("skip", true);
            r.open_typed("selectSet", "TraversalSpec")
                .text("name", "view")
                .text("type", "ContainerView")
                .text("path", "view")
                .text("skip", false)
                .close();
            r.close().close();
            match self.retrieve(r).await {
                Err(e) if !fresh && e.is_gone() => {
                    tracing::debug!(view = %view.value, "vsphere: container view gone, making a new one");
                    self.views.lock().await.remove(&key);
                }
                other => return other,
            }
        }
    }

    /// Reads `paths` of the given objects of one kind.
    pub async fn props_of(
        &self,
        objs: &[MoRef],
        paths: &[&str],
    ) -> Result<Vec<ObjectContent>, CallError> {
        if objs.is_empty() {
            return Ok(Vec::new());
        }
        let mut r = Request::new("RetrievePropertiesEx", &self.sc.property_collector);
        r.open("specSet");
        let kinds: std::collections::BTreeSet<&str> =
            objs.iter().map(|o| o.kind.as_str()).collect();
        for k in kinds {
            Self::write_props(&mut r, &[(k, paths)]);
        }
        for o in objs {
            r.open("objectSet").moref("obj", o).close();
        }
        r.close();
        self.retrieve(r).await
    }

    /// Reads `paths` of one object; `ManagedObjectNotFound` when it is gone.
    pub async fn props(&self, obj: &MoRef, paths: &[&str]) -> Result<ObjectContent, CallError> {
        let mut v = self.props_of(std::slice::from_ref(obj), paths).await?;
        Ok(v.pop().unwrap_or_else(|| ObjectContent {
            obj: obj.clone(),
            props: BTreeMap::new(),
        }))
    }

    // ---- tasks ----

    /// Waits for a task to end, polling `info` with backoff until the deadline. Returns
    /// `info.result`; a failed task is its fault (with the localized message).
    pub async fn wait_task(&self, task: &MoRef) -> Result<Option<Element>, CallError> {
        poll_task(self.polling, &task.value, || async move {
            let info = self
                .props(task, &["info.state", "info.error", "info.result"])
                .await?;
            Ok(match info.text("info.state") {
                Some("success") => TaskState::Done(info.props.get("info.result").cloned()),
                Some("error") => TaskState::Failed(
                    info.props
                        .get("info.error")
                        .map(soap::localized_fault)
                        .unwrap_or_else(|| soap::Fault {
                            code: "TaskFailed".into(),
                            message: format!("task {} failed without an error", task.value),
                            detail: None,
                        }),
                ),
                _ => TaskState::Running,
            })
        })
        .await
    }

    /// Starts a `*_Task` method and waits for it.
    pub async fn run_task(&self, req: Request) -> Result<Option<Element>, CallError> {
        let task = self.call_moref(req).await?;
        self.wait_task(&task).await
    }

    // ---- inventory, custom fields ----

    /// `SearchIndex.FindByInventoryPath`: the object at `path` (`DC0/vm/strato`), if any.
    pub async fn find_by_path(&self, path: &str) -> Result<Option<MoRef>, CallError> {
        let mut r = Request::new("FindByInventoryPath", &self.sc.search_index);
        r.text("inventoryPath", path);
        Ok(self.returnval(r).await?.and_then(|e| e.as_moref()))
    }

    /// The custom field definitions: name -> key.
    pub async fn custom_fields(&self) -> Result<BTreeMap<String, i32>, CallError> {
        let Some(cfm) = &self.sc.custom_fields_manager else {
            return Ok(BTreeMap::new());
        };
        let o = self.props(cfm, &["field"]).await?;
        let mut out = BTreeMap::new();
        if let Some(list) = o.props.get("field") {
            for d in &list.children {
                if let (Some(name), Some(key)) = (
                    d.text_of("name"),
                    d.text_of("key").and_then(|k| k.parse().ok()),
                ) {
                    out.insert(name.to_owned(), key);
                }
            }
        }
        Ok(out)
    }

    /// Defines a global custom attribute; returns its key.
    pub async fn add_custom_field(&self, name: &str) -> Result<i32, CallError> {
        let cfm = self.cfm()?;
        let mut r = Request::new("AddCustomFieldDef", cfm);
        r.text("name", name);
        let rv = self.returnval(r).await?;
        rv.and_then(|e| e.text_of("key").and_then(|k| k.parse().ok()))
            .ok_or_else(|| CallError::Parse("AddCustomFieldDef: no key returned".into()))
    }

    /// Sets a custom attribute on an entity.
    pub async fn set_field(&self, entity: &MoRef, key: i32, value: &str) -> Result<(), CallError> {
        let mut r = Request::new("SetField", self.cfm()?);
        r.moref("entity", entity)
            .text("key", key)
            .text("value", value);
        self.call(r).await.map(|_| ())
    }

    fn cfm(&self) -> Result<&MoRef, CallError> {
        self.sc.custom_fields_manager.as_ref().ok_or_else(|| {
            CallError::Fault(Box::new(soap::Fault {
                code: "NotSupported".into(),
                message: "this endpoint has no CustomFieldsManager (an ESXi host, not a vCenter)"
                    .into(),
                detail: None,
            }))
        })
    }
}

/// What one poll of a task found.
#[derive(Clone, Debug)]
pub enum TaskState {
    /// Queued or running.
    Running,
    /// Succeeded, with `info.result`.
    Done(Option<Element>),
    /// Failed with this fault.
    Failed(soap::Fault),
}

/// Polls until the task ends: first after `initial`, doubling up to `max`, giving up at `timeout`
/// (the last wait is cut to end exactly at the deadline, where one final poll is made).
pub async fn poll_task<F, Fut>(
    p: TaskPolling,
    task: &str,
    mut poll: F,
) -> Result<Option<Element>, CallError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<TaskState, CallError>>,
{
    let deadline = Instant::now() + p.timeout;
    let mut wait = p.initial;
    loop {
        match poll().await? {
            TaskState::Done(r) => return Ok(r),
            TaskState::Failed(f) => return Err(CallError::Fault(Box::new(f))),
            TaskState::Running => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(CallError::TaskTimeout {
                task: task.to_owned(),
                waited: p.timeout,
            });
        }
        tokio::time::sleep(wait.min(deadline - now)).await;
        wait = (wait * 2).min(p.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    const P: TaskPolling = TaskPolling {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(2),
        timeout: Duration::from_secs(10),
    };

    #[tokio::test(start_paused = true)]
    async fn polling_backs_off_and_stops_at_the_deadline() {
        let polls = AtomicU32::new(0);
        let start = Instant::now();
        let r = poll_task(P, "task-1", || async {
            polls.fetch_add(1, Ordering::SeqCst);
            Ok(TaskState::Running)
        })
        .await;
        assert!(matches!(r, Err(CallError::TaskTimeout { .. })), "{r:?}");
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        // t = 0, .1, .3, .7, 1.5, 3.1, 5.1, 7.1, 9.1, 10: ten polls in ten seconds, not a hundred.
        assert_eq!(polls.load(Ordering::SeqCst), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn polling_returns_the_result_or_the_tasks_fault() {
        let polls = AtomicU32::new(0);
        let start = Instant::now();
        let r = poll_task(P, "task-2", || async {
            Ok(if polls.fetch_add(1, Ordering::SeqCst) < 2 {
                TaskState::Running
            } else {
                TaskState::Done(None)
            })
        })
        .await;
        assert!(matches!(r, Ok(None)));
        assert_eq!(start.elapsed(), Duration::from_millis(300));
        let fault = soap::Fault {
            code: "InvalidPowerState".into(),
            message:
                "The attempted operation cannot be performed in the current state (Powered on)."
                    .into(),
            detail: None,
        };
        let r = poll_task(P, "task-3", || async {
            Ok(TaskState::Failed(fault.clone()))
        })
        .await;
        assert_eq!(r.unwrap_err().fault_code(), Some("InvalidPowerState"));
    }
}
