package agent

// DefaultConfig is the configuration `drover run` uses without one: it
// tails the log files under /var/log and prints every line as a JSON object
// on standard output. DROVER_DATA_DIR moves the state directory and
// DROVER_ADMIN_ADDRESS the admin endpoint.
const DefaultConfig = `# drover's built-in configuration. data_dir is /var/lib/drover, or
# $DROVER_DATA_DIR; the admin endpoint listens on 127.0.0.1:7688, or
# $DROVER_ADMIN_ADDRESS.

source "file" "varlog" {
  include = ["/var/log/*.log", "/var/log/**/*.log"]
}

sink "stdout" "console" {
  inputs = ["varlog"]
}
`

// DefaultConfigName is the file name that error messages about the
// built-in configuration show.
const DefaultConfigName = "<built-in>"
