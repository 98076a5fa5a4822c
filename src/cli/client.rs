//! A blocking client of the public Nacos 1.x console API that Nacos 1.x/2.x,
//! r-nacos and vigil all serve: login, namespaces, paged search, detail,
//! beta, publish, export, import. Used only by the subcommands, never by
//! the server.

use anyhow::{anyhow, bail, Context};
use serde_json::Value;
use std::io::Read;
use std::time::Duration;

/// Most bytes read from one response (a config is at most 10 M chars).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// One server, logged in when credentials were given.
pub struct Client {
    agent: ureq::Agent,
    /// `http://host:port/nacos`, no trailing slash.
    base: String,
    token: Option<String>,
}

/// A namespace as listed (`""` is public).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub id: String,
    pub name: String,
    pub desc: Option<String>,
}

/// What is copied of a config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigCopy {
    pub data_id: String,
    pub group: String,
    pub content: String,
    pub config_type: Option<String>,
    pub desc: Option<String>,
    pub app_name: Option<String>,
    /// Sorted, comma-free labels (`config_tags`).
    pub tags: Vec<String>,
}

/// A beta release: its addresses and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BetaCopy {
    pub ips: String,
    pub content: String,
}

/// A non-empty string field of a JSON object.
fn text(v: &Value, name: &str) -> Option<String> {
    v[name]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn tags_of(v: &Value) -> Vec<String> {
    let mut tags: Vec<String> = v["configTags"]
        .as_str()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

impl Client {
    /// Connects to `url` (`http://host:8848`, with or without `/nacos`),
    /// logging in when a user name is given.
    pub fn connect(
        url: &str,
        user: Option<&str>,
        password: Option<&str>,
    ) -> anyhow::Result<Client> {
        let url = url.trim_end_matches('/');
        let base = if url.ends_with("/nacos") {
            url.to_owned()
        } else {
            format!("{url}/nacos")
        };
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build();
        let mut client = Client {
            agent,
            base,
            token: None,
        };
        if let Some(user) = user {
            let password =
                password.ok_or_else(|| anyhow!("a password is needed for user {user}"))?;
            let (url, req) = client.prepare(client.agent.post(&client.url("/v1/auth/login")));
            let (status, body) = Client::answer(
                &url,
                req.send_form(&[("username", user), ("password", password)]),
            )?;
            if status != 200 {
                bail!(
                    "login to {} as {user} refused ({status}): {}",
                    client.base,
                    body.trim()
                );
            }
            let v: Value = serde_json::from_str(&body)
                .with_context(|| format!("login answer of {} is not JSON", client.base))?;
            client.token = Some(
                text(&v, "accessToken")
                    .ok_or_else(|| anyhow!("login answer has no accessToken"))?,
            );
        }
        Ok(client)
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The request with the access token, if any.
    fn with_token(&self, req: ureq::Request) -> ureq::Request {
        match &self.token {
            Some(t) => req.query("accessToken", t),
            None => req,
        }
    }

    /// The request with the token, and its URL for messages.
    fn prepare(&self, req: ureq::Request) -> (String, ureq::Request) {
        (req.url().to_owned(), self.with_token(req))
    }

    /// Reads an answer: any HTTP status is one, only transport failures
    /// are errors.
    fn answer(
        url: &str,
        sent: Result<ureq::Response, ureq::Error>,
    ) -> anyhow::Result<(u16, String)> {
        let resp = match sent {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(anyhow!("{url}: {e}")),
        };
        let status = resp.status();
        let mut body = Vec::new();
        resp.into_reader()
            .take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut body)
            .with_context(|| format!("reading the answer of {url}"))?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<(u16, String)> {
        let mut req = self.agent.get(&self.url(path));
        for (k, v) in query {
            req = req.query(k, v);
        }
        let (url, req) = self.prepare(req);
        Client::answer(&url, req.call())
    }

    fn get_json(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Value> {
        let (status, body) = self.get(path, query)?;
        if status != 200 {
            bail!("GET {path} answered {status}: {}", body.trim());
        }
        serde_json::from_str(&body).with_context(|| format!("GET {path}: not JSON: {body:.200}"))
    }

    /// Every namespace, the public one first.
    pub fn namespaces(&self) -> anyhow::Result<Vec<Namespace>> {
        let v = self.get_json("/v1/console/namespaces", &[])?;
        let list = v["data"]
            .as_array()
            .ok_or_else(|| anyhow!("namespace list without data: {v}"))?;
        let mut out: Vec<Namespace> = list
            .iter()
            .map(|n| Namespace {
                id: n["namespace"].as_str().unwrap_or("").to_owned(),
                name: n["namespaceShowName"].as_str().unwrap_or("").to_owned(),
                desc: text(n, "namespaceDesc"),
            })
            .collect();
        if !out.iter().any(|n| n.id.is_empty()) {
            out.insert(
                0,
                Namespace {
                    id: String::new(),
                    name: "public".into(),
                    desc: None,
                },
            );
        }
        Ok(out)
    }

    /// One page of a namespace's configs: (total, items).
    pub fn page(
        &self,
        tenant: &str,
        page_no: u64,
        page_size: u64,
    ) -> anyhow::Result<(u64, Vec<ConfigCopy>)> {
        let (no, size) = (page_no.to_string(), page_size.to_string());
        let v = self.get_json(
            "/v1/cs/configs",
            &[
                ("search", "accurate"),
                ("dataId", ""),
                ("group", ""),
                ("tenant", tenant),
                ("pageNo", &no),
                ("pageSize", &size),
            ],
        )?;
        let total = v["totalCount"]
            .as_u64()
            .ok_or_else(|| anyhow!("search answer without totalCount: {v:.200}"))?;
        let items = v["pageItems"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| ConfigCopy {
                        data_id: i["dataId"].as_str().unwrap_or("").to_owned(),
                        group: i["group"].as_str().unwrap_or("").to_owned(),
                        content: i["content"].as_str().unwrap_or("").to_owned(),
                        config_type: text(i, "type"),
                        desc: text(i, "desc"),
                        app_name: text(i, "appName"),
                        tags: Vec::new(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok((total, items))
    }

    /// A config with all its metadata (`show=all`); `None` when absent.
    pub fn detail(
        &self,
        data_id: &str,
        group: &str,
        tenant: &str,
    ) -> anyhow::Result<Option<ConfigCopy>> {
        let (status, body) = self.get(
            "/v1/cs/configs",
            &[
                ("show", "all"),
                ("dataId", data_id),
                ("group", group),
                ("tenant", tenant),
            ],
        )?;
        if status == 404 || (status == 200 && body.trim().is_empty()) {
            return Ok(None);
        }
        if status != 200 {
            bail!(
                "detail of {group}/{data_id} answered {status}: {}",
                body.trim()
            );
        }
        let v: Value = serde_json::from_str(&body)
            .with_context(|| format!("detail of {group}/{data_id}: not JSON"))?;
        // Some servers wrap the detail in an envelope.
        let d = if v["data"].is_object() {
            &v["data"]
        } else {
            &v
        };
        if d.is_null() || d["content"].is_null() {
            return Ok(None);
        }
        Ok(Some(ConfigCopy {
            data_id: data_id.to_owned(),
            group: group.to_owned(),
            content: d["content"].as_str().unwrap_or("").to_owned(),
            config_type: text(d, "type"),
            desc: text(d, "desc"),
            app_name: text(d, "appName"),
            tags: tags_of(d),
        }))
    }

    /// The beta release of a config, if the server has one and shows it.
    pub fn beta(
        &self,
        data_id: &str,
        group: &str,
        tenant: &str,
    ) -> anyhow::Result<Option<BetaCopy>> {
        let (status, body) = self.get(
            "/v1/cs/configs",
            &[
                ("beta", "true"),
                ("dataId", data_id),
                ("group", group),
                ("tenant", tenant),
            ],
        )?;
        if status != 200 {
            return Ok(None);
        }
        let Ok(v) = serde_json::from_str::<Value>(&body) else {
            return Ok(None);
        };
        let d = &v["data"];
        Ok(match (text(d, "betaIps"), d["content"].as_str()) {
            (Some(ips), Some(content)) => Some(BetaCopy {
                ips,
                content: content.to_owned(),
            }),
            _ => None,
        })
    }

    /// Publishes a config (or its beta release) with its metadata.
    pub fn publish(
        &self,
        c: &ConfigCopy,
        tenant: &str,
        beta: Option<&BetaCopy>,
    ) -> anyhow::Result<()> {
        let tags = c.tags.join(",");
        let mut form: Vec<(&str, &str)> = vec![
            ("dataId", &c.data_id),
            ("group", &c.group),
            ("tenant", tenant),
            ("content", beta.map_or(&c.content, |b| &b.content)),
        ];
        for (name, value) in [
            ("type", &c.config_type),
            ("desc", &c.desc),
            ("appName", &c.app_name),
        ] {
            if let Some(v) = value {
                form.push((name, v));
            }
        }
        if !tags.is_empty() {
            form.push(("config_tags", &tags));
        }
        let mut req = self.agent.post(&self.url("/v1/cs/configs"));
        if let Some(b) = beta {
            req = req.set("betaIps", &b.ips);
        }
        let (url, req) = self.prepare(req);
        let (status, body) = Client::answer(&url, req.send_form(&form))?;
        if status != 200 || body.trim() != "true" {
            bail!("publish answered {status}: {}", body.trim());
        }
        Ok(())
    }

    pub fn create_namespace(&self, ns: &Namespace) -> anyhow::Result<()> {
        let mut form = vec![
            ("customNamespaceId", ns.id.as_str()),
            ("namespaceName", ns.name.as_str()),
        ];
        if let Some(d) = &ns.desc {
            form.push(("namespaceDesc", d));
        }
        let req = self.agent.post(&self.url("/v1/console/namespaces"));
        let (url, req) = self.prepare(req);
        let (status, body) = Client::answer(&url, req.send_form(&form))?;
        if status != 200 || body.trim() != "true" {
            bail!(
                "creating namespace {} answered {status}: {}",
                ns.id,
                body.trim()
            );
        }
        Ok(())
    }

    /// The export zip of a namespace (`v2`: with `.metadata.yml`).
    pub fn export(&self, tenant: &str, v2: bool) -> anyhow::Result<Vec<u8>> {
        let flag = if v2 { "exportV2" } else { "export" };
        let req = self
            .agent
            .get(&self.url("/v1/cs/configs"))
            .query(flag, "true")
            .query("tenant", tenant)
            .query("ids", "");
        let url = req.url().to_owned();
        let resp = match self.with_token(req).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                bail!(
                    "{url} answered {code}: {}",
                    r.into_string().unwrap_or_default()
                )
            }
            Err(e) => bail!("{url}: {e}"),
        };
        let mut zip = Vec::new();
        resp.into_reader()
            .take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut zip)?;
        Ok(zip)
    }

    /// Uploads an export zip; the answer is the server's JSON.
    pub fn import(&self, tenant: &str, policy: &str, zip: &[u8]) -> anyhow::Result<(u16, String)> {
        let boundary = "vigil-import-7d1f3c5a9b2e4f60";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"policy\"\r\n\r\n{policy}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"import.zip\"\r\nContent-Type: application/zip\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(zip);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let req = self
            .agent
            .post(&self.url("/v1/cs/configs"))
            .query("import", "true")
            .query("namespace", tenant)
            .set(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            );
        let (url, req) = self.prepare(req);
        Client::answer(&url, req.send_bytes(&body))
    }
}
