//! genrelay-provision: creates the table, bucket and queues on an AWS-compatible endpoint (an
//! emulator such as moto_server, for local invocation) and prints the environment the functions
//! need. On AWS itself, deploy infra/template.yaml instead.
//!
//! `AWS_ENDPOINT_URL=http://127.0.0.1:5000 genrelay-provision --prefix genrelay`

use aws_config::BehaviorVersion;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let prefix = match (args.next().as_deref(), args.next()) {
        (Some("--prefix"), Some(prefix)) => prefix,
        (None, _) => "genrelay".to_owned(),
        _ => return Err("usage: genrelay-provision [--prefix NAME]".into()),
    };
    let config = aws_config::defaults(BehaviorVersion::latest()).http_client(genrelay_aws::https_client()).load().await;
    if config.endpoint_url().is_none() {
        return Err("AWS_ENDPOINT_URL is not set: this tool is for emulators; deploy infra/template.yaml on AWS".into());
    }
    let resources = genrelay_aws::schema::provision(&config, &prefix).await?;
    println!("export GENRELAY_TABLE={}", resources.table);
    println!("export GENRELAY_BUCKET={}", resources.bucket);
    println!("export GENRELAY_DISPATCH_QUEUE_URL={}", resources.dispatch_queue_url);
    println!("export GENRELAY_PRIORITY_QUEUE_URL={}", resources.priority_queue_url);
    if let Some(url) = &resources.webhook_queue_url {
        println!("export GENRELAY_WEBHOOK_QUEUE_URL={url}");
    }
    Ok(())
}
