//! A pod's network usage: the counters of the interfaces in its network namespace, read
//! from `/proc/<pid>/net/dev` of a process inside it (the infra process), which the kernel
//! answers for that process's namespace: no `setns`, no netlink socket, no thread to pin.
//! The loopback interface is left out, as cAdvisor does.

/// One interface's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name in the pod (`eth0`).
    pub name: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Transmit errors.
    pub tx_errors: u64,
}

/// The interfaces of process `pid`'s network namespace; `None` when it is gone.
pub fn of_pid(pid: i32) -> Option<Vec<Interface>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    Some(parse(&text))
}

/// The interfaces of a `/proc/net/dev` text, loopback left out.
pub fn parse(net_dev: &str) -> Vec<Interface> {
    net_dev
        .lines()
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            let name = name.trim();
            let counters: Vec<u64> = counters
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            // Receive: bytes packets errs drop fifo frame compressed multicast;
            // transmit: bytes packets errs ...
            (name != "lo" && counters.len() >= 16).then(|| Interface {
                name: name.to_owned(),
                rx_bytes: counters[0],
                rx_errors: counters[2],
                tx_bytes: counters[8],
                tx_errors: counters[10],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_are_read_from_proc_net_dev_without_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
            face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
            lo:     840      10    0    0    0     0          0         0      840      10    0    0    0     0       0          0\n  \
            eth0:   15392     181    3    0    0     0          0         0     4512      58    1    0    0     0       0          0\n";
        assert_eq!(
            parse(text),
            vec![Interface {
                name: "eth0".into(),
                rx_bytes: 15392,
                rx_errors: 3,
                tx_bytes: 4512,
                tx_errors: 1,
            }]
        );
    }

    #[test]
    fn this_process_sees_its_interfaces() {
        let interfaces = of_pid(std::process::id() as i32).expect("own net/dev");
        assert!(interfaces.iter().all(|i| i.name != "lo"));
    }
}
