fn main() {
    eprintln!("bencode-tool: not implemented yet");
    std::process::exit(2);
}
