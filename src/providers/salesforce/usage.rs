//! Salesforce's report of the org's API usage, on every answer (a refusal too):
//! `Sforce-Limit-Info: api-usage=18/5000`, sometimes followed by per-app figures
//! (`; per-app-api-usage=17/250(appName=…)`). The org's figure counts every app's calls, so it
//! caps ours even while our own daily counters have room.

use http::HeaderMap;

use crate::limits::Usage;

pub fn read(headers: &HeaderMap) -> Option<Usage> {
    let info = headers.get("sforce-limit-info")?.to_str().ok()?;
    let figure = info
        .split([';', ','])
        .find_map(|part| part.trim().strip_prefix("api-usage="))?;
    let (used, limit) = figure.split_once('/')?;
    Some(Usage {
        class: "api_usage",
        used: used.trim().parse().ok()?,
        limit: limit.trim().parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("sforce-limit-info", value.parse().unwrap());
        headers
    }

    #[test]
    fn reads_the_orgs_figure_not_the_apps() {
        let usage = read(&headers(
            "per-app-api-usage=17/250(appName=sample); api-usage=18/5000",
        ))
        .unwrap();
        assert_eq!((usage.used, usage.limit), (18, 5000));
        assert_eq!(
            read(&headers("api-usage=5000/5000")).unwrap().remaining(),
            0
        );
        assert_eq!(read(&headers("api-usage=x/5000")), None);
        assert_eq!(read(&HeaderMap::new()), None);
    }
}
