//! Tasks and exec processes: containerd's Go `Task` and `Process` over the
//! Tasks service (create with rootfs mounts and stdio paths, load, start,
//! wait with retry, kill, status, delete, pids, pause/resume, close stdin,
//! resize, exec, update), their statistics ([`metrics`]), checkpoints
//! ([`checkpoint`]) and a container's changes committed as an image
//! ([`commit`]: the task paused and resumed around the diff).
//!
//! Owns: the request each task call sends and the errors it gives. The
//! stdio paths it hands containerd come from `core::stdio` (which copies
//! them), the rootfs mounts from the container's snapshot (the Snapshots
//! service). Holds no state of its own beyond a restored task's deferred
//! create (`checkpoint`).
//!
//! May call: `core::daemon` (the client, its calls and identifier checks),
//! `core::stdio::fifo` (stdio paths), `core::container::spec` (checking an
//! exec process spec and a resources update), `core::image::snapshot` (the
//! platform of a checkpoint image), `core::events::payload` (metrics JSON),
//! for a commit `core::container` (the container's record) and
//! `core::image` (records, content, the platform walk, unpack), and
//! `core::error`; never `crate::ffi`.

pub mod checkpoint;
pub mod commit;
pub mod metrics;

use std::time::{Duration, Instant};

use crate::api::containerd::v1::types::{Process, Status};
use crate::api::services::snapshots::v1::MountsRequest;
use crate::api::services::tasks::v1 as tasks;
use crate::api::types::Descriptor;
use crate::core::daemon::client::Client;
use crate::core::daemon::ident;
use crate::core::error::{self, Code, Error, Result};
use crate::core::stdio::fifo::IoPaths;

/// The type name containerd gives an exec process spec `Any`.
pub const PROCESS_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";
/// What stands in for an unused output stream when the other one is used.
const DEV_NULL: &str = "/dev/null";

/// A task's (or exec process's) state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Unknown,
    Created,
    Running,
    Stopped,
    Paused,
    Pausing,
}

impl From<i32> for State {
    fn from(v: i32) -> Self {
        match Status::try_from(v) {
            Ok(Status::Created) => State::Created,
            Ok(Status::Running) => State::Running,
            Ok(Status::Stopped) => State::Stopped,
            Ok(Status::Paused) => State::Paused,
            Ok(Status::Pausing) => State::Pausing,
            _ => State::Unknown,
        }
    }
}

/// What the daemon knows of a task or exec process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub state: State,
    pub exit_status: u32,
    pub io: IoPaths,
}

impl From<Process> for ProcessInfo {
    fn from(p: Process) -> Self {
        let unused_if_null = |s: &str| if s == DEV_NULL { "" } else { s }.to_string();
        ProcessInfo {
            pid: p.pid,
            state: State::from(p.status),
            exit_status: p.exit_status,
            io: IoPaths::from_daemon(
                &p.stdin,
                &unused_if_null(&p.stdout),
                &unused_if_null(&p.stderr),
                p.terminal,
            ),
        }
    }
}

/// The stdio strings to send for `io`. containerd 1.6's runc shim opens both
/// output paths once either is set (an empty one fails), so an unused output
/// beside a used one becomes /dev/null, which it opens as a plain file.
pub fn io_strings(io: &IoPaths) -> [String; 3] {
    let [stdin, mut stdout, mut stderr] = io.to_daemon();
    if !io.terminal && stdout.is_empty() != stderr.is_empty() {
        if stdout.is_empty() {
            stdout = DEV_NULL.to_string();
        } else {
            stderr = DEV_NULL.to_string();
        }
    }
    [stdin, stdout, stderr]
}

fn exec_what(container_id: &str, exec_id: &str) -> String {
    if exec_id.is_empty() {
        format!("task {}", ident::shown(container_id))
    } else {
        format!(
            "process {} of task {}",
            ident::shown(exec_id),
            ident::shown(container_id)
        )
    }
}

/// Whether a failed wait was cut off (the daemon went away or restarted)
/// rather than answered: such a wait is tried again. Every transport failure
/// is `Unavailable` (see [`crate::core::error::transport_failure`]).
fn interrupted(e: &Error) -> bool {
    matches!(e.code, Code::Unavailable | Code::Cancelled)
}

impl Client {
    /// Creates the task of container `container_id`: its rootfs mounts come
    /// from the container's snapshot, its stdio from `io`. With `checkpoint`,
    /// the task is restored from that checkpoint. Returns the pid.
    pub async fn create_task(
        &self,
        container_id: &str,
        io: &IoPaths,
        options: Option<prost_types::Any>,
        checkpoint: Option<Descriptor>,
    ) -> Result<u32> {
        let container = self.get_container(container_id).await?;
        let what = format!("create {}", exec_what(container_id, ""));
        let mut rootfs = Vec::new();
        if !container.snapshot_key.is_empty() {
            let req = MountsRequest {
                snapshotter: container.snapshotter.clone(),
                key: container.snapshot_key.clone(),
            };
            rootfs = self
                .call(
                    format!(
                        "{what}: mounts of snapshot {}",
                        ident::shown(&container.snapshot_key)
                    ),
                    self.snapshots().mounts(self.request(req)),
                )
                .await?
                .mounts;
        }
        let [stdin, stdout, stderr] = io_strings(io);
        let req = tasks::CreateTaskRequest {
            container_id: container_id.to_string(),
            rootfs,
            stdin,
            stdout,
            stderr,
            terminal: io.terminal,
            checkpoint,
            options,
            runtime_path: String::new(),
        };
        Ok(self
            .call(what, self.tasks().create(self.request(req)))
            .await?
            .pid)
    }

    /// What the daemon knows of a task (`exec_id` "") or exec process.
    pub async fn get_process(&self, container_id: &str, exec_id: &str) -> Result<ProcessInfo> {
        let req = tasks::GetRequest {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
        };
        let got = self
            .call(
                exec_what(container_id, exec_id),
                self.tasks().get(self.request(req)),
            )
            .await?;
        got.process
            .map(ProcessInfo::from)
            .ok_or_else(|| Error::new(Code::Unknown, "the daemon returned no process"))
    }

    /// Starts a created task or exec process; returns its pid.
    pub async fn start_process(&self, container_id: &str, exec_id: &str) -> Result<u32> {
        let req = tasks::StartRequest {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
        };
        let what = format!("start {}", exec_what(container_id, exec_id));
        Ok(self
            .call(what, self.tasks().start(self.request(req)))
            .await?
            .pid)
    }

    /// Waits until the task or process exits and returns its exit status.
    /// `timeout` `None` waits for ever; on timeout `DeadlineExceeded` and the
    /// process is untouched. A wait cut off by the daemon going away is tried
    /// again (a restarted daemon answers for the same process), for as long as
    /// the client's timeout while the daemon stays unreachable; each outage
    /// gets that long again, however many there are.
    pub async fn wait_process(
        &self,
        container_id: &str,
        exec_id: &str,
        timeout: Option<Duration>,
    ) -> Result<u32> {
        let what = format!("wait for {}", exec_what(container_id, exec_id));
        let waiting = async {
            const FIRST_PAUSE: Duration = Duration::from_millis(50);
            // When the current outage began, and whether the daemon answered
            // since: a connection that fails after that is a new outage.
            let mut cut_off_since: Option<Instant> = None;
            let mut answered_since = false;
            let mut pause = FIRST_PAUSE;
            loop {
                let req = tasks::WaitRequest {
                    container_id: container_id.to_string(),
                    exec_id: exec_id.to_string(),
                };
                // Not the client's call deadline: a wait takes its own timeout.
                let answer = self.tasks().wait(self.request_without_deadline(req)).await;
                match answer {
                    Ok(r) => return Ok(r.into_inner().exit_status),
                    Err(status) => {
                        let transport = error::transport_failure(&status).is_some();
                        let e = self.status_error(&what, status);
                        if !interrupted(&e) {
                            return Err(e);
                        }
                        if transport && answered_since {
                            cut_off_since = None;
                            answered_since = false;
                        }
                        let since = *cut_off_since.get_or_insert_with(Instant::now);
                        if let Some(limit) = self.timeout() {
                            if since.elapsed() >= limit {
                                return Err(e);
                            }
                        }
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(1));
                        // Back? Then the next Wait runs on a new connection,
                        // and the daemon going away again is a new outage.
                        if self.server_version().await.is_ok() {
                            answered_since = true;
                            pause = FIRST_PAUSE;
                        }
                    }
                }
            }
        };
        match timeout {
            None => waiting.await,
            Some(limit) => tokio::time::timeout(limit, waiting)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::new(
                        Code::DeadlineExceeded,
                        format!("{what}: it did not exit within {} ms", limit.as_millis()),
                    ))
                }),
        }
    }

    /// Sends `signal` to the task or process (`all`: every process of the task).
    pub async fn kill_process(
        &self,
        container_id: &str,
        exec_id: &str,
        signal: u32,
        all: bool,
    ) -> Result<()> {
        let req = tasks::KillRequest {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
            signal,
            all,
        };
        let what = format!(
            "kill {} with signal {signal}",
            exec_what(container_id, exec_id)
        );
        self.call(what, self.tasks().kill(self.request(req)))
            .await?;
        Ok(())
    }

    /// Deletes a stopped task and returns its exit status. With `force`, a
    /// task that still runs (or is paused) is killed and waited for first.
    pub async fn delete_task(&self, container_id: &str, force: bool) -> Result<u32> {
        if force {
            let info = self.get_process(container_id, "").await?;
            if info.state == State::Paused || info.state == State::Pausing {
                self.resume_task(container_id).await?;
            }
            if info.state != State::Stopped {
                match self
                    .kill_process(container_id, "", libc::SIGKILL as u32, true)
                    .await
                {
                    Err(e) if e.code != Code::NotFound => return Err(e),
                    _ => {}
                }
                self.wait_process(container_id, "", self.timeout()).await?;
            }
        }
        // Without force, one call: the daemon itself refuses a task that
        // still runs (where the Go client asks for its status first).
        let req = tasks::DeleteTaskRequest {
            container_id: container_id.to_string(),
        };
        let what = format!("delete {}", exec_what(container_id, ""));
        match self
            .call(what, self.tasks().delete(self.request(req)))
            .await
        {
            Ok(reply) => Ok(reply.exit_status),
            Err(e) => Err(refused_while_running(e)),
        }
    }

    /// Deletes a stopped exec process and returns its exit status.
    pub async fn delete_process(&self, container_id: &str, exec_id: &str) -> Result<u32> {
        let req = tasks::DeleteProcessRequest {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
        };
        let what = format!("delete {}", exec_what(container_id, exec_id));
        match self
            .call(what, self.tasks().delete_process(self.request(req)))
            .await
        {
            Ok(reply) => Ok(reply.exit_status),
            Err(e) => Err(refused_while_running(e)),
        }
    }

    /// The pids of every process in the task.
    pub async fn task_pids(&self, container_id: &str) -> Result<Vec<u32>> {
        let req = tasks::ListPidsRequest {
            container_id: container_id.to_string(),
        };
        let what = format!("list the pids of {}", exec_what(container_id, ""));
        let list = self
            .call(what, self.tasks().list_pids(self.request(req)))
            .await?;
        Ok(list.processes.into_iter().map(|p| p.pid).collect())
    }

    /// Freezes every process of the task.
    pub async fn pause_task(&self, container_id: &str) -> Result<()> {
        let req = tasks::PauseTaskRequest {
            container_id: container_id.to_string(),
        };
        let what = format!("pause {}", exec_what(container_id, ""));
        self.call(what, self.tasks().pause(self.request(req)))
            .await?;
        Ok(())
    }

    /// Thaws a paused task.
    pub async fn resume_task(&self, container_id: &str) -> Result<()> {
        let req = tasks::ResumeTaskRequest {
            container_id: container_id.to_string(),
        };
        let what = format!("resume {}", exec_what(container_id, ""));
        self.call(what, self.tasks().resume(self.request(req)))
            .await?;
        Ok(())
    }

    /// Closes the stdin of the task or process (it reads EOF).
    pub async fn close_stdin(&self, container_id: &str, exec_id: &str) -> Result<()> {
        let req = tasks::CloseIoRequest {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
            stdin: true,
        };
        let what = format!("close the stdin of {}", exec_what(container_id, exec_id));
        self.call(what, self.tasks().close_io(self.request(req)))
            .await?;
        Ok(())
    }

    /// Resizes the terminal of the task or process.
    pub async fn resize_pty(
        &self,
        container_id: &str,
        exec_id: &str,
        width: u32,
        height: u32,
    ) -> Result<()> {
        let req = tasks::ResizePtyRequest {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
            width,
            height,
        };
        let what = format!(
            "resize the terminal of {}",
            exec_what(container_id, exec_id)
        );
        self.call(what, self.tasks().resize_pty(self.request(req)))
            .await?;
        Ok(())
    }

    /// Adds exec process `exec_id` running `process_json` (an OCI process
    /// object, sent as given once it parses) to the running task.
    pub async fn exec_process(
        &self,
        container_id: &str,
        exec_id: &str,
        process_json: &str,
        io: &IoPaths,
    ) -> Result<()> {
        let req = self.exec_request(container_id, exec_id, process_json, io)?;
        self.send_exec(req).await
    }

    /// The checked request of [`Client::exec_process`], built without any
    /// call: bad input fails here, before the runtime or the network.
    pub fn exec_request(
        &self,
        container_id: &str,
        exec_id: &str,
        process_json: &str,
        io: &IoPaths,
    ) -> Result<tasks::ExecProcessRequest> {
        validate_exec(exec_id, process_json)?;
        let [stdin, stdout, stderr] = io_strings(io);
        let req = tasks::ExecProcessRequest {
            container_id: container_id.to_string(),
            stdin,
            stdout,
            stderr,
            terminal: io.terminal,
            spec: Some(prost_types::Any {
                type_url: PROCESS_TYPE_URL.to_string(),
                value: process_json.as_bytes().to_vec(),
            }),
            exec_id: exec_id.to_string(),
        };
        self.check_request_size(self.exec_what(&req), &req)?;
        Ok(req)
    }

    fn exec_what(&self, req: &tasks::ExecProcessRequest) -> String {
        format!("exec {}", exec_what(&req.container_id, &req.exec_id))
    }

    /// Sends a request from [`Client::exec_request`].
    pub async fn send_exec(&self, req: tasks::ExecProcessRequest) -> Result<()> {
        let what = self.exec_what(&req);
        self.call(what, self.tasks().exec(self.request(req)))
            .await?;
        Ok(())
    }

    /// The task's statistics as JSON (see [`metrics::metric_json`]): the
    /// tasks service's `Metrics` filtered by `id==<container_id>`, as the Go
    /// client's `Task.Metrics`. `NotFound` when the daemon reports none (no
    /// such task, or one that is not running).
    pub async fn task_metrics_json(&self, container_id: &str) -> Result<String> {
        let req = tasks::MetricsRequest {
            filters: vec![format!("id=={container_id}")],
        };
        let what = format!("metrics of {}", exec_what(container_id, ""));
        let answer = self
            .call(&what, self.tasks().metrics(self.request(req)))
            .await?;
        let metric = answer
            .metrics
            .into_iter()
            .find(|m| m.id == container_id)
            .ok_or_else(|| {
                Error::new(
                    Code::NotFound,
                    format!("{what}: the daemon reported none (is the task running?)"),
                )
            })?;
        let data = metric.data.ok_or_else(|| {
            Error::new(
                Code::Unknown,
                format!("{what}: the daemon sent a metric without data"),
            )
        })?;
        Ok(metrics::metric_json(&data).to_string())
    }

    /// The checked request of [`Client::update_task`], built without any
    /// call: bad input fails here, before the runtime or the network.
    pub fn update_request(
        &self,
        container_id: &str,
        resources_json: &str,
    ) -> Result<tasks::UpdateTaskRequest> {
        metrics::validate_resources(resources_json)?;
        let req = tasks::UpdateTaskRequest {
            container_id: container_id.to_string(),
            resources: Some(prost_types::Any {
                type_url: metrics::LINUX_RESOURCES_TYPE_URL.to_string(),
                value: resources_json.as_bytes().to_vec(),
            }),
            annotations: Default::default(),
        };
        self.check_request_size(format!("update {}", exec_what(container_id, "")), &req)?;
        Ok(req)
    }

    /// Sends a request from [`Client::update_request`].
    pub async fn send_update(&self, req: tasks::UpdateTaskRequest) -> Result<()> {
        let what = format!("update {}", exec_what(&req.container_id, ""));
        self.call(what, self.tasks().update(self.request(req)))
            .await?;
        Ok(())
    }

    /// Changes the resources of the running task to `resources_json`, an OCI
    /// `LinuxResources` object (sent as given once it parses).
    pub async fn update_task(&self, container_id: &str, resources_json: &str) -> Result<()> {
        let req = self.update_request(container_id, resources_json)?;
        self.send_update(req).await
    }
}

/// Checks an exec id and process JSON before anything is sent.
pub fn validate_exec(exec_id: &str, process_json: &str) -> Result<()> {
    ident::validate("exec id", exec_id)?;
    serde_json::from_str::<serde::de::IgnoredAny>(process_json)
        .map_err(|e| Error::invalid(format!("process_json is not valid JSON: {e}")))?;
    let process: crate::core::container::spec::shape::Process =
        crate::core::container::spec::from_json_text(process_json)
            .map_err(|e| Error::invalid(format!("process_json is not an OCI process: {e}")))?;
    if process.args.as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::invalid("process_json has no args"));
    }
    if process.cwd.as_os_str().is_empty() {
        return Err(Error::invalid("process_json has no cwd"));
    }
    Ok(())
}

/// The daemon refuses to delete a process that still runs (or is paused)
/// with an "unknown" error ("cannot delete a running process"): that is a
/// failed precondition, in the daemon's words.
fn refused_while_running(e: Error) -> Error {
    if e.code == Code::Unknown && (e.message.contains("running") || e.message.contains("paused")) {
        Error::new(Code::FailedPrecondition, e.message)
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn an_unused_output_beside_a_used_one_is_dev_null() {
        let io = IoPaths {
            stdout: Some("/f/out".into()),
            ..Default::default()
        };
        assert_eq!(
            io_strings(&io),
            ["", "/f/out", "/dev/null"].map(String::from)
        );
        let io = IoPaths {
            stderr: Some("/f/err".into()),
            stdin: Some("/f/in".into()),
            ..Default::default()
        };
        assert_eq!(
            io_strings(&io),
            ["/f/in", "/dev/null", "/f/err"].map(String::from)
        );
        // None at all, both, or a terminal: as given.
        assert_eq!(
            io_strings(&IoPaths::default()),
            ["", "", ""].map(String::from)
        );
        let tty = IoPaths {
            stdout: Some("/f/out".into()),
            terminal: true,
            ..Default::default()
        };
        assert_eq!(io_strings(&tty), ["", "/f/out", ""].map(String::from));
    }

    #[test]
    fn dev_null_reads_back_as_unused() {
        let p = Process {
            stdout: "/f/out".into(),
            stderr: DEV_NULL.into(),
            ..Default::default()
        };
        let info = ProcessInfo::from(p);
        assert_eq!(info.io.stdout, Some(PathBuf::from("/f/out")));
        assert_eq!(info.io.stderr, None);
    }

    #[test]
    fn exec_specs_are_checked() {
        validate_exec(
            "e1",
            r#"{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}}"#,
        )
        .unwrap();
        for (id, json, want) in [
            ("bad id", r#"{"args":["sh"],"cwd":"/"}"#, "invalid exec id"),
            ("e1", "{", "not valid JSON"),
            ("e1", "[]", "not an OCI process"),
            (
                "e1",
                r#"{"args":[],"cwd":"/","user":{"uid":0,"gid":0}}"#,
                "no args",
            ),
        ] {
            let e = validate_exec(id, json).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument);
            assert!(e.message.contains(want), "{}", e.message);
        }
    }
}
