package agent

// DefaultConfig is the configuration `drover run` uses without --config: it
// tails the log files under /var/log and prints every line as a JSON object
// on standard output. DROVER_DATA_DIR moves the state directory.
const DefaultConfig = `# drover's built-in configuration.
data_dir = env("DROVER_DATA_DIR", "/var/lib/drover")

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
