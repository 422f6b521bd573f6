//! Risk grades of connected medical devices: Table B.1 of DB3205/T
//! "联网医疗设备网络安全管理规范" (Appendix B). A device's grade (1 to 3)
//! follows from whether it touches or enters the body (contact), how it
//! is used (usage form), and how badly losing control of it could hurt a
//! patient or affect care (level). The grade is always computed from
//! these three attributes, never typed in, and a combination the table
//! leaves empty ("—") has no grade: a class or device that lands on one is
//! rejected where it is declared.

use serde::Deserialize;
use std::fmt;

/// Usage form (使用形式) of a device that touches or enters the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactForm {
    /// 能量治疗: delivers energy (radiotherapy excepted: see ionizing).
    EnergyTherapy,
    /// 诊断监护: diagnoses or monitors.
    DiagnosisMonitoring,
    /// 输送体液: delivers or removes fluids (pumps, dialysis).
    FluidDelivery,
    /// 电离辐射: ionizing radiation (CT, X-ray, radiotherapy).
    IonizingRadiation,
    /// 植入: implanted.
    Implant,
    /// 其他一般: other contact devices.
    Other,
}

/// Usage form of a device that does not touch the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonContactForm {
    /// 实验室仪器设备: laboratory instruments.
    LabInstrument,
    /// 独立软件: standalone software.
    StandaloneSoftware,
    /// 消毒设备: disinfection equipment.
    Disinfection,
    /// 其他辅助设备: other auxiliary equipment.
    OtherAuxiliary,
}

/// How badly a contact device's loss of control could hurt a patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactLevel {
    /// 轻微损伤: slight injury.
    Slight,
    /// 损伤: injury.
    Injury,
    /// 严重损伤: serious injury.
    Serious,
}

/// How much a non-contact device's loss of control affects care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonContactLevel {
    /// 基本不影响: essentially none.
    None,
    /// 有间接影响: an indirect effect.
    Indirect,
    /// 有重要影响: an important effect.
    Important,
}

/// The three Appendix B attributes of a medical device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Attributes {
    /// Touches or enters the body (接触人体).
    Contact(ContactForm, ContactLevel),
    /// Does not (非接触人体).
    NonContact(NonContactForm, NonContactLevel),
}

/// A grade: 1 (lowest) to 3 (highest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grade(u8);

impl Grade {
    /// 1, 2 or 3.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why attributes have no grade: the cell of Table B.1 is "—".
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Table B.1 has no grade for {form} with level {level} (the cell is \"—\")")]
pub struct NoGrade {
    /// The usage form's name.
    pub form: &'static str,
    /// The level's name.
    pub level: &'static str,
}

/// An attribute name that is not one Appendix B knows: which key, and what
/// is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not one of {allowed}")]
pub struct BadName {
    /// `usage_form` or `level`.
    pub key: &'static str,
    /// The value given.
    pub value: String,
    /// What it may be.
    pub allowed: &'static str,
}

impl Attributes {
    /// The attributes named as in the rules files and the asset list
    /// (`contact`, `usage_form`, `level`); the grade is not checked here.
    pub fn from_names(contact: bool, form: &str, level: &str) -> Result<Attributes, BadName> {
        let bad = |key, value: &str, allowed| BadName {
            key,
            value: value.to_string(),
            allowed,
        };
        if contact {
            let f = match form {
                "energy_therapy" => ContactForm::EnergyTherapy,
                "diagnosis_monitoring" => ContactForm::DiagnosisMonitoring,
                "fluid_delivery" => ContactForm::FluidDelivery,
                "ionizing_radiation" => ContactForm::IonizingRadiation,
                "implant" => ContactForm::Implant,
                "other" => ContactForm::Other,
                _ => return Err(bad("usage_form", form, "the contact forms energy_therapy, diagnosis_monitoring, fluid_delivery, ionizing_radiation, implant, other")),
            };
            let l = match level {
                "slight" => ContactLevel::Slight,
                "injury" => ContactLevel::Injury,
                "serious" => ContactLevel::Serious,
                _ => {
                    return Err(bad(
                        "level",
                        level,
                        "the contact levels slight, injury, serious",
                    ))
                }
            };
            Ok(Attributes::Contact(f, l))
        } else {
            let f = match form {
                "lab_instrument" => NonContactForm::LabInstrument,
                "standalone_software" => NonContactForm::StandaloneSoftware,
                "disinfection" => NonContactForm::Disinfection,
                "other_auxiliary" => NonContactForm::OtherAuxiliary,
                _ => return Err(bad("usage_form", form, "the non-contact forms lab_instrument, standalone_software, disinfection, other_auxiliary")),
            };
            let l = match level {
                "none" => NonContactLevel::None,
                "indirect" => NonContactLevel::Indirect,
                "important" => NonContactLevel::Important,
                _ => {
                    return Err(bad(
                        "level",
                        level,
                        "the non-contact levels none, indirect, important",
                    ))
                }
            };
            Ok(Attributes::NonContact(f, l))
        }
    }

    /// The grade Table B.1 gives these attributes.
    pub fn grade(self) -> Result<Grade, NoGrade> {
        use ContactForm as C;
        use ContactLevel as CL;
        use NonContactForm as N;
        use NonContactLevel as NL;
        let g = match self {
            // Contact: slight / injury / serious.
            Attributes::Contact(C::Implant, _) => 3,
            Attributes::Contact(_, CL::Serious) => 3,
            Attributes::Contact(
                C::EnergyTherapy
                | C::DiagnosisMonitoring
                | C::FluidDelivery
                | C::IonizingRadiation
                | C::Other,
                CL::Slight | CL::Injury,
            ) => 2,
            // Non-contact: none / indirect / important.
            Attributes::NonContact(N::StandaloneSoftware | N::Disinfection, NL::None) => {
                return Err(NoGrade {
                    form: self.form_name(),
                    level: self.level_name(),
                })
            }
            Attributes::NonContact(N::LabInstrument | N::OtherAuxiliary, NL::None) => 1,
            Attributes::NonContact(_, NL::Indirect) => 2,
            Attributes::NonContact(_, NL::Important) => 3,
        };
        Ok(Grade(g))
    }

    /// Whether the device touches or enters the body.
    pub fn contact(self) -> bool {
        matches!(self, Attributes::Contact(..))
    }

    /// The usage form's stable name (as in the rules files).
    pub fn form_name(self) -> &'static str {
        match self {
            Attributes::Contact(f, _) => match f {
                ContactForm::EnergyTherapy => "energy_therapy",
                ContactForm::DiagnosisMonitoring => "diagnosis_monitoring",
                ContactForm::FluidDelivery => "fluid_delivery",
                ContactForm::IonizingRadiation => "ionizing_radiation",
                ContactForm::Implant => "implant",
                ContactForm::Other => "other",
            },
            Attributes::NonContact(f, _) => match f {
                NonContactForm::LabInstrument => "lab_instrument",
                NonContactForm::StandaloneSoftware => "standalone_software",
                NonContactForm::Disinfection => "disinfection",
                NonContactForm::OtherAuxiliary => "other_auxiliary",
            },
        }
    }

    /// The level's stable name (as in the rules files).
    pub fn level_name(self) -> &'static str {
        match self {
            Attributes::Contact(_, l) => match l {
                ContactLevel::Slight => "slight",
                ContactLevel::Injury => "injury",
                ContactLevel::Serious => "serious",
            },
            Attributes::NonContact(_, l) => match l {
                NonContactLevel::None => "none",
                NonContactLevel::Indirect => "indirect",
                NonContactLevel::Important => "important",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContactForm as C;
    use ContactLevel as CL;
    use NonContactForm as N;
    use NonContactLevel as NL;

    /// Every cell of Table B.1, as the standard prints it (0 for "—").
    #[test]
    fn every_cell_of_table_b1() {
        let contact = [
            (C::EnergyTherapy, [2, 2, 3]),
            (C::DiagnosisMonitoring, [2, 2, 3]),
            (C::FluidDelivery, [2, 2, 3]),
            (C::IonizingRadiation, [2, 2, 3]),
            (C::Implant, [3, 3, 3]),
            (C::Other, [2, 2, 3]),
        ];
        for (form, row) in contact {
            for (level, want) in [CL::Slight, CL::Injury, CL::Serious].into_iter().zip(row) {
                let a = Attributes::Contact(form, level);
                assert_eq!(a.grade().map(Grade::get), Ok(want), "{a:?}");
                assert!(a.contact());
            }
        }
        let non_contact = [
            (N::LabInstrument, [1, 2, 3]),
            (N::StandaloneSoftware, [0, 2, 3]),
            (N::Disinfection, [0, 2, 3]),
            (N::OtherAuxiliary, [1, 2, 3]),
        ];
        for (form, row) in non_contact {
            for (level, want) in [NL::None, NL::Indirect, NL::Important].into_iter().zip(row) {
                let a = Attributes::NonContact(form, level);
                match want {
                    0 => {
                        let e = a.grade().unwrap_err();
                        assert_eq!(e.level, "none");
                        assert!(e.to_string().contains("no grade"), "{e}");
                    }
                    g => assert_eq!(a.grade().map(Grade::get), Ok(g), "{a:?}"),
                }
                assert!(!a.contact());
            }
        }
    }
}
