//! Start-up rules for the administrator

use super::*;

#[test]
fn auth_without_admin_password_refuses_to_start() {
    let tmp = tempfile::tempdir().expect("tmp");
    match vigil_with_env(&tmp.path().join("data"), &["--auth"], &[]) {
        Ok(s) => panic!(
            "vigil started on {} with --auth, no users and no password",
            s.addr
        ),
        Err(e) => assert!(!e.status.success(), "exit status must be non-zero: {e:?}"),
    }
    // An empty password is no password.
    let started = vigil_with_env(
        &tmp.path().join("data2"),
        &["--auth"],
        &[("VIGIL_AUTH_ADMIN_PASSWORD", "")],
    );
    if let Ok(s) = started {
        // Tolerated only if the empty password cannot be used to log in.
        let r = login_go(s.addr, ADMIN, "");
        assert_body(
            &r,
            403,
            "unknown user!",
            "empty admin password must not log in",
        );
    }
}

#[test]
fn admin_password_from_the_environment() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = vigil_with_env(
        &tmp.path().join("data"),
        &["--auth"],
        &[("VIGIL_AUTH_ADMIN_PASSWORD", "from-env")],
    )
    .unwrap_or_else(|e| panic!("vigil exited: {e:?}"));
    let addr = s.addr;
    let t = token(addr, ADMIN, "from-env", true);
    publish_as(addr, &t, "env", "", "v");
    assert_body(
        &login_go(addr, ADMIN, ADMIN_PW),
        403,
        "unknown user!",
        "another password",
    );
}

#[test]
fn custom_admin_user_name() {
    let s = Server::start_args(&[
        "--auth",
        "--auth-admin-user",
        "root",
        "--auth-admin-password",
        "rootpw",
    ]);
    let t = token(s.addr, "root", "rootpw", true);
    publish_as(s.addr, &t, "root", "", "v");
    assert_body(
        &login_go(s.addr, "nacos", "rootpw"),
        403,
        "unknown user!",
        "no nacos user",
    );
}

#[test]
fn restart_with_existing_users_needs_no_admin_password() {
    let mut s = auth_server(&[]);
    let t = admin_token(s.addr);
    publish_as(s.addr, &t, "persist", "", "v");
    let r = post(
        s.addr,
        USERS,
        &[("accessToken", &t)],
        &[("username", "alice"), ("password", "alice-pw")],
        &[],
    );
    assert_body(
        &r,
        200,
        r#"{"code":200,"message":"create user ok!","data":null}"#,
        "create alice",
    );
    let tmp = s.take_tmp();
    let dir = s.data_dir.clone();
    let st = s.sigterm();
    assert!(st.success(), "graceful stop: {st}");
    drop(s);
    let s2 = Server::start_in(&dir, &["--auth"]);
    let t2 = admin_token(s2.addr);
    assert_content_as(s2.addr, &t2, "persist", "", "v");
    token(s2.addr, "alice", "alice-pw", false);
    // Still locked.
    assert_status(
        &get(s2.addr, CFG, &key("persist", "")),
        403,
        "no credentials after restart",
    );
    drop(s2);
    drop(tmp);
}
