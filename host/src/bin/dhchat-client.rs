//! `dhchat-client`: the terminal chat client (see `dhchat_host::client`).

fn main() -> std::process::ExitCode {
    dhchat_host::client::main()
}
