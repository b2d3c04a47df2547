fn main() {
    eprintln!("torrent-get: not implemented yet");
    std::process::exit(2);
}
