//! In-process check that planning makes no mutating call: every changing command runs with
//! `--dry-run` against a memory cloud wrapped in a layer that records each operation.

use super::*;
use crate::cli::*;
use std::sync::Mutex;
use std::time::Duration;
use strato_core::layers::{Around, Call, Layered};
use strato_core::{CloudInfo, GroupSpec, NicSpec, Operation, Result, VipSpec, VmSpec};
use strato_memory::{MemoryConfig, MemoryConnector};

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Records the operation of every call that goes through it.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Operation>>>);

impl Around for Recorder {
    fn around<'a, T: Send + 'a>(
        &'a self,
        _info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> BoxFuture<'a, Result<T>> {
        self.0.lock().unwrap().push(op);
        call()
    }
}

impl Recorder {
    fn take(&self) -> Vec<Operation> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

async fn cloud() -> (Arc<dyn CloudConnector>, Recorder) {
    let settings = MemoryConfig {
        boot_latency: Duration::ZERO,
        ..Default::default()
    };
    let owner = strato_core::OwnerId::new("t").unwrap();
    let bare: Arc<dyn CloudConnector> =
        Arc::new(MemoryConnector::from_settings(settings, owner).unwrap());
    // Some state to plan against, made directly (not recorded).
    let size: Size = "1x1g".parse().unwrap();
    let a1 = bare
        .create_vm(&VmSpec::new("a-1", size.clone(), "img"))
        .await
        .unwrap();
    let a2 = bare
        .create_vm(&VmSpec::new("a-2", size.clone(), "img"))
        .await
        .unwrap();
    let side = bare
        .create_network(&strato_core::NetworkSpec::new(
            "side",
            Some("10.8.0.0/24".parse().unwrap()),
        ))
        .await
        .unwrap();
    bare.attach_nic(
        &a2.id,
        &NicSpec {
            network: side.id.clone(),
            address: None,
        },
    )
    .await
    .unwrap();
    bare.allocate_vip(&VipSpec::new("v", a1.id.clone()))
        .await
        .unwrap();
    let g = GroupSpec {
        name: "g".into(),
        size,
        image: "img".into(),
        network: None,
        tags: Tags::new(),
    };
    bare.scale_group(&g, 1).await.unwrap();
    let rec = Recorder::default();
    (Layered::wrap(bare, rec.clone()), rec)
}

fn session(conn: Arc<dyn CloudConnector>, dry_run: bool) -> Session {
    Session {
        conn,
        profile: crate::profile::local_profile(),
        format: OutputFormat::Json,
        waiter: Waiter::new(true, Duration::from_secs(5)),
        dry_run,
    }
}

fn mutating(ops: &[Operation]) -> Vec<Operation> {
    ops.iter().copied().filter(|o| o.is_mutating()).collect()
}

#[tokio::test]
async fn dry_runs_make_reads_only_and_apply_makes_one_change() {
    let (conn, rec) = cloud().await;
    let s = session(conn.clone(), true);
    let vm = |v: &str| VmRef { vm: v.into() };
    vm::run(
        &s,
        VmCommand::Create(VmCreateArgs {
            name: "n-1".into(),
            size: None,
            image: None,
            network: None,
            tags: vec![],
            host: None,
        }),
    )
    .await
    .unwrap();
    vm::run(&s, VmCommand::Delete(vm("a-1"))).await.unwrap();
    vm::run(&s, VmCommand::Stop(vm("a-1"))).await.unwrap();
    vm::run(&s, VmCommand::Start(vm("a-1"))).await.unwrap();
    network::run(
        &s,
        NetworkCommand::Create(NetworkCreateArgs {
            name: "o".into(),
            cidr: None,
            parent: None,
            tags: vec![],
        }),
    )
    .await
    .unwrap();
    network::run(
        &s,
        NetworkCommand::Delete(NetworkRef {
            network: "side".into(),
        }),
    )
    .await
    .unwrap();
    network::run(
        &s,
        NetworkCommand::Attach(AttachArgs {
            vm: "a-1".into(),
            network: "side".into(),
            address: None,
        }),
    )
    .await
    .unwrap();
    network::run(
        &s,
        NetworkCommand::Detach(DetachArgs {
            vm: "a-2".into(),
            network: "side".into(),
        }),
    )
    .await
    .unwrap();
    vip::run(
        &s,
        VipCommand::Allocate(VipAllocateArgs {
            name: "w".into(),
            vm: "a-2".into(),
            network: None,
            address: None,
            public: false,
        }),
    )
    .await
    .unwrap();
    vip::run(
        &s,
        VipCommand::Move(VipMoveArgs {
            vip: "v".into(),
            to: "a-2".into(),
        }),
    )
    .await
    .unwrap();
    vip::run(&s, VipCommand::Release(VipRef { vip: "v".into() }))
        .await
        .unwrap();
    for size in [0, 3] {
        let a = GroupScaleArgs {
            name: "g".into(),
            size,
            vm_size: None,
            image: None,
            network: None,
        };
        group::run(&s, GroupCommand::Scale(a)).await.unwrap();
    }
    let ops = rec.take();
    assert!(ops.len() >= 12, "the plans read the cloud: {ops:?}");
    assert_eq!(mutating(&ops), [], "a dry run made a mutating call");

    // Without --dry-run the same plan is applied: exactly one mutating call.
    let s = session(conn, false);
    vm::run(&s, VmCommand::Delete(vm("a-1"))).await.unwrap();
    assert_eq!(mutating(&rec.take()), [Operation::DeleteVm]);
    let a = GroupScaleArgs {
        name: "g".into(),
        size: 2,
        vm_size: None,
        image: None,
        network: None,
    };
    group::run(&s, GroupCommand::Scale(a)).await.unwrap();
    assert_eq!(
        mutating(&rec.take()),
        [Operation::ScaleGroup],
        "--wait scales once, then reads"
    );
}
