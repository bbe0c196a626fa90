//! Report categories: what riders see on their routes.

use std::fmt;
use std::str::FromStr;

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

macro_rules! categories {
    ($($variant:ident => $name:literal, $zh:literal, $hours:literal, $doc:literal;)*) => {
        /// The kind of hazard or incident a report is about.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Category {
            $(#[doc = $doc] $variant,)*
        }

        impl Category {
            /// Every category, in display order.
            pub const ALL: &'static [Category] = &[$(Category::$variant,)*];

            /// The name used on the command line, in documents and in exports.
            pub fn as_str(self) -> &'static str {
                match self { $(Category::$variant => $name,)* }
            }

            /// The name riders and staff read, in Chinese (Open311's
            /// `service_name`, the rider's page).
            pub fn zh_name(self) -> &'static str {
                match self { $(Category::$variant => $zh,)* }
            }

            /// What the category covers, in English (Open311's `description`).
            pub fn description(self) -> &'static str {
                match self { $(Category::$variant => $doc,)* }
            }

            /// How long a new case of this category may stay open before it is overdue.
            pub fn default_deadline(self) -> Duration {
                match self { $(Category::$variant => Duration::hours($hours),)* }
            }
        }
    };
}

categories! {
    ManholeCover => "manhole_cover", "井盖问题", 24, "A raised, broken or missing manhole cover.";
    ElectricalFire => "electrical_fire", "电箱起火", 2, "An electrical box or cable on fire or smoking.";
    ElevatorFault => "elevator_fault", "电梯故障", 24, "An elevator that is stuck or unsafe.";
    FireLaneBlocked => "fire_lane_blocked", "消防通道堵塞", 4, "A fire lane blocked by vehicles or goods.";
    Sanitation => "sanitation", "环境卫生", 72, "Rubbish, a sanitation dead corner.";
    PublicFacilityDamage => "public_facility_damage", "公共设施损坏", 72, "Damaged railings, lights, benches, signs.";
    UncivilBehaviour => "uncivil_behaviour", "不文明行为", 72, "Uncivil behaviour to be guided.";
    Dispute => "dispute", "矛盾纠纷", 24, "A dispute between residents or on the street.";
    ChildSafety => "child_safety", "儿童安全", 2, "A child in danger, such as climbing bridge railings.";
    LostPerson => "lost_person", "人员走失", 2, "A lost elderly person or child.";
    Traffic => "traffic", "交通隐患", 24, "A traffic hazard.";
    Other => "other", "其他", 72, "Anything else.";
}

impl Category {
    /// Every category name, for help texts and errors.
    pub fn names() -> Vec<&'static str> {
        Category::ALL.iter().map(|c| c.as_str()).collect()
    }

    /// Looks a category up by name.
    pub fn from_name(s: &str) -> Option<Category> {
        Category::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::from_name(s).ok_or_else(|| ValidationError::UnknownCategory(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_default_categories_round_trip() {
        assert_eq!(Category::ALL.len(), 12);
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), *c);
            assert!(!c.zh_name().is_ascii(), "{c} needs a Chinese name");
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
        assert!(matches!(
            "nope".parse::<Category>(),
            Err(ValidationError::UnknownCategory(_))
        ));
    }
}
