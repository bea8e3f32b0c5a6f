//! The timezone a US phone number most likely rings in, from its area
//! code: the fallback for a recipient whose address gives no zone.
//!
//! Each code maps to the zone of most of its state (or of most of the
//! code's own area where a state is split, as in Indiana, Kentucky,
//! Tennessee, Florida's panhandle and West Texas). Where a code straddles
//! a zone line the guess can be an hour off; the default 09:00–20:00
//! window then still falls within 08:00–21:00 local. Codes not listed
//! (new overlays, non-geographic codes) fall through to the campaign's
//! `timezone`.

use chrono_tz::Tz;

const ZONES: [(Tz, &str); 9] = [
    (
        chrono_tz::America::New_York,
        "202 203 207 212 215 216 220 223 229 231 234 239 240 248 252 260 267 269 272 276 283 \
         301 302 304 305 313 315 317 321 326 330 332 336 339 347 351 352 380 386 401 404 407 \
         410 412 413 419 423 434 440 443 445 463 470 475 478 484 508 513 516 517 518 540 \
         551 561 567 570 571 574 582 585 586 603 606 607 609 610 614 616 617 631 640 646 656 \
         667 678 679 680 681 689 703 704 706 716 717 718 724 727 732 734 740 743 754 757 762 \
         765 770 771 772 774 781 786 802 803 804 810 812 813 814 826 828 835 838 839 843 845 \
         848 854 856 857 859 860 862 863 864 865 878 904 906 908 910 912 914 917 919 929 930 \
         934 937 941 943 947 948 954 959 973 978 980 984 989",
    ),
    (
        chrono_tz::America::Chicago,
        "205 210 214 217 218 219 224 225 228 251 254 256 262 270 274 281 308 309 312 314 316 \
         318 319 320 325 327 331 334 337 346 361 364 402 405 409 414 417 430 432 447 448 464 \
         469 479 501 504 507 512 515 531 534 539 557 563 572 573 580 601 605 608 612 615 618 \
         620 629 630 636 641 651 659 660 662 682 701 708 712 713 715 726 730 731 737 763 769 \
         773 779 785 806 815 816 817 830 832 847 850 861 870 872 901 903 913 918 920 924 931 \
         936 938 940 945 952 956 972 975 979 985",
    ),
    (
        chrono_tz::America::Denver,
        "208 303 307 385 406 435 505 575 719 720 801 915 970 983 986",
    ),
    (chrono_tz::America::Phoenix, "480 520 602 623 928"),
    (
        chrono_tz::America::Los_Angeles,
        "206 209 213 253 279 310 323 341 350 360 408 415 424 425 442 458 503 509 510 530 541 \
         559 562 564 619 626 628 650 657 661 669 702 707 714 725 747 760 775 805 818 820 831 \
         840 858 909 916 925 949 951 971",
    ),
    (chrono_tz::America::Anchorage, "907"),
    (chrono_tz::Pacific::Honolulu, "808"),
    (chrono_tz::America::Puerto_Rico, "787 939"),
    (chrono_tz::Pacific::Guam, "671"),
];

/// The zone for an E.164 number of the North American plan (`+1NXX...`),
/// or `None` when its area code is not one we place.
pub fn zone(e164: &str) -> Option<Tz> {
    let digits = e164.strip_prefix("+1")?;
    let code = digits.get(..3)?;
    if digits.len() != 10 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    ZONES.iter().find_map(|(tz, codes)| {
        codes
            .split_ascii_whitespace()
            .any(|c| c == code)
            .then_some(*tz)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_land_in_their_states_zone() {
        assert_eq!(zone("+12155550100"), Some(chrono_tz::America::New_York));
        assert_eq!(zone("+13125550100"), Some(chrono_tz::America::Chicago));
        assert_eq!(zone("+13035550100"), Some(chrono_tz::America::Denver));
        assert_eq!(zone("+16025550100"), Some(chrono_tz::America::Phoenix));
        assert_eq!(zone("+14155550100"), Some(chrono_tz::America::Los_Angeles));
        assert_eq!(zone("+19075550100"), Some(chrono_tz::America::Anchorage));
        assert_eq!(zone("+18085550100"), Some(chrono_tz::Pacific::Honolulu));
        // Not placed: a toll-free code, a non-NANP number, a short one.
        assert_eq!(zone("+18005550100"), None);
        assert_eq!(zone("+442071234567"), None);
        assert_eq!(zone("+1215"), None);
    }

    #[test]
    fn no_code_is_in_two_zones() {
        let mut seen = std::collections::HashMap::new();
        for (tz, codes) in ZONES {
            for c in codes.split_ascii_whitespace() {
                assert_eq!(c.len(), 3, "{c:?}");
                assert!(c.bytes().all(|b| b.is_ascii_digit()), "{c:?}");
                if let Some(other) = seen.insert(c, tz) {
                    panic!("{c} is in {other} and {tz}");
                }
            }
        }
    }
}
