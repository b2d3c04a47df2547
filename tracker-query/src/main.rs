fn main() {
    eprintln!("tracker-query: not implemented yet");
    std::process::exit(2);
}
