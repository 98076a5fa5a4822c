//! A03, A07, A09: login with auth on

use super::*;

#[test]
fn a03_login_in_the_three_client_styles() {
    let s = auth_server(&[]);
    let t1 = check_login(
        &login_python(s.addr, ADMIN, ADMIN_PW),
        18000,
        true,
        "python style on /v1/auth/login",
    );
    let t2 = check_login(
        &login_java(s.addr, ADMIN, ADMIN_PW),
        18000,
        true,
        "java style on /v1/auth/users/login",
    );
    let t3 = check_login(
        &login_go(s.addr, ADMIN, ADMIN_PW),
        18000,
        true,
        "go style on /v1/auth/users/login",
    );
    // Both paths accept every style.
    check_login(
        &post(
            s.addr,
            LOGIN,
            &[],
            &[("username", ADMIN), ("password", ADMIN_PW)],
            &[],
        ),
        18000,
        true,
        "form body on /v1/auth/login",
    );
    check_login(
        &post(
            s.addr,
            USERS_LOGIN,
            &[("username", ADMIN), ("password", ADMIN_PW)],
            &[],
            &[],
        ),
        18000,
        true,
        "query on /v1/auth/users/login",
    );
    // Every token works.
    for t in [&t1, &t2, &t3] {
        let r = get_as(s.addr, t, "absent", "");
        assert_body(&r, 404, "config data not exist\n", "GET with a fresh token");
    }
}

#[test]
fn a07_wrong_password_or_unknown_user_is_403_unknown_user() {
    let s = auth_server(&[]);
    for (what, r) in [
        (
            "wrong password, python",
            login_python(s.addr, ADMIN, "wrong"),
        ),
        ("wrong password, java", login_java(s.addr, ADMIN, "wrong")),
        ("wrong password, go", login_go(s.addr, ADMIN, "wrong")),
        ("unknown user", login_go(s.addr, "ghost", ADMIN_PW)),
        (
            "password of another case",
            login_go(s.addr, ADMIN, &ADMIN_PW.to_uppercase()),
        ),
        ("empty password", login_go(s.addr, ADMIN, "")),
    ] {
        assert_body(&r, 403, "unknown user!", what);
        assert_eq!(r.header("Authorization"), None, "{what}: no token header");
    }
}

#[test]
fn a09_tokens_are_url_safe_and_work_unescaped_in_the_query() {
    let s = auth_server(&[]);
    let admin = admin_token(s.addr);
    publish_as(s.addr, &admin, "a09", "", "v");
    for _ in 0..5 {
        // check_login asserts the character set.
        let t = admin_token(s.addr);
        // Go v1 inserts the token without escaping.
        let q = format!("{CFG}?dataId=a09&group={DG}&accessToken={t}");
        let r = request(s.addr, &raw("GET", &q, &[], None));
        assert_body(&r, 200, "v", "token pasted raw into the query");
    }
}
