fn main() {
    eprintln!("torrent-info: not implemented yet");
    std::process::exit(2);
}
